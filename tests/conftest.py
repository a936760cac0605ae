"""Shared by the tests: Keras 2 is selected before TensorFlow is imported, and the helpers that
run this project's programs in fresh interpreters, as users do."""

import legacy_keras  # noqa: F401, I001

import os
import subprocess
import sys

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Small and fast: resnet18 from scratch at 64x32, batches of 4 identities x 2 images.
SHRUNK = [
    "--backbone_model_name",
    "resnet18",
    "--nouse_pretrained_backbone",
    "--image_height",
    "64",
    "--image_width",
    "32",
    "--identity_num_per_batch",
    "4",
    "--image_num_per_identity",
    "2",
    "--workers",
    "2",
]


def start_python(arguments: list[str], *, environment: dict | None = None) -> subprocess.Popen:
    """`python arguments...` in the repository, stdout and stderr together as text."""
    return subprocess.Popen(
        [sys.executable, *arguments],
        cwd=REPOSITORY,
        env=environment if environment is not None else quiet_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def quiet_environment(**changes: str) -> dict:
    """os.environ without TensorFlow's C++ info lines, with `changes` applied."""
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **changes}


def start_solution(arguments: list[str], **options) -> subprocess.Popen:
    return start_python(["-u", "solution.py", *arguments], **options)


def run_solution(arguments: list[str], timeout: float = 900) -> tuple[int, str]:
    """(exit status, output) of solution.py run to its end."""
    process = start_solution(arguments)
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output
