"""The tracking tests run in the tracking environment (requirements-tracking.txt: BoxMOT,
PyTorch, TrackEval; no TensorFlow). The model they track with is made by the training
environment's Python, as a user makes one: an untrained FlipReID model exported by export.py
--layout tracker (benchmarks/untrained_tracker_model.py)."""

import os
import shutil
import subprocess
import sys

import pytest

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPOSITORY)

from tracking.scene import SceneSettings, generate_sequence, write_sequence  # noqa: E402

# The Python of the training environment (.venv, made by the README's first test command).
TRAINING_PYTHON = os.environ.get(
    "FLIPREID_TRAINING_PYTHON", os.path.join(REPOSITORY, ".venv", "bin", "python")
)
SHORT_SCENE = SceneSettings(frame_num=60, person_num=6, seed=3)
TINY_FRAME_NUM = 8


def run_program(arguments: list[str], *, python: str = sys.executable, **options):
    """(exit status, stdout and stderr together) of one of the project's programs; options:
    subprocess.run's (env, preexec_fn)."""
    completed = subprocess.run(
        [python, *arguments], cwd=REPOSITORY, capture_output=True, text=True, timeout=900, **options
    )
    return completed.returncode, completed.stdout + completed.stderr


@pytest.fixture(scope="session")
def tracker_model(tmp_path_factory) -> str:
    if not os.path.isfile(TRAINING_PYTHON):
        pytest.fail(
            f"No training environment at {TRAINING_PYTHON}: the tracking tests export their "
            "model with it. Make it first (the README's test commands, in order), or point "
            "FLIPREID_TRAINING_PYTHON at its python."
        )
    path = str(tmp_path_factory.mktemp("model") / "tracker_model.onnx")
    status, output = run_program(
        ["benchmarks/untrained_tracker_model.py", "--output_path", path], python=TRAINING_PYTHON
    )
    assert status == 0, output[-3000:]
    return path


@pytest.fixture(scope="session")
def short_sequence(tmp_path_factory) -> str:
    """A generated sequence in MOT Challenge's layout (img1/, det/det.txt, gt/gt.txt)."""
    path = str(tmp_path_factory.mktemp("sequences") / "short")
    write_sequence(path, generate_sequence(SHORT_SCENE))
    return path


@pytest.fixture(scope="session")
def tiny_sequence(short_sequence, tmp_path_factory) -> str:
    """Frames 31 to 38 of the short sequence (four or five people in each) as a sequence of
    their own, frames numbered from 1: what a test of track.py's input and output needs."""
    path = tmp_path_factory.mktemp("sequences") / "tiny"
    (path / "img1").mkdir(parents=True)
    (path / "det").mkdir()
    for index in range(1, TINY_FRAME_NUM + 1):
        shutil.copyfile(
            os.path.join(short_sequence, "img1", f"{index + 30:06d}.jpg"),
            path / "img1" / f"{index:06d}.jpg",
        )
    with open(os.path.join(short_sequence, "det", "det.txt")) as detections_file:
        lines = [line.split(",", 1) for line in detections_file if line.strip()]
    with open(path / "det" / "det.txt", "w") as detections_file:
        for frame, rest in lines:
            if 30 < int(frame) <= 30 + TINY_FRAME_NUM:
                detections_file.write(f"{int(frame) - 30},{rest}")
    return str(path)
