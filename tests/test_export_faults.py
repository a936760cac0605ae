"""export.py under faults: killed at the renames that put an export in place, two at once into
one path, leftovers of killed writes, a path that cannot be written, a full disk. The same
command must finish (or clear) what a killed export left; a refusal is one `Error:` paragraph.
Two exports of a tiny untrained model are converted (the crash chain and the full disk); every
other case is made of hand-made files and stops before TensorFlow is imported."""

import fcntl
import json
import os
import re
import resource
import subprocess
import sys

import numpy as np
import pytest
from conftest import (
    REPOSITORY,
    assert_one_error,
    quiet_environment,
    start_python,
    without_tensorflow,
)


def run_export(arguments, *, environment=None, timeout=600):
    process = start_python(["-u", "export.py", *arguments], environment=environment)
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """An untrained resnet18 inference model at 64x32 (flipping inside), saved as training
    saves one: inference_model.h5 and its .json."""
    import applications
    from settings import ModelSettings

    folder = tmp_path_factory.mktemp("tiny_model")
    settings = ModelSettings(
        backbone_model_name="resnet18",
        image_height=64,
        image_width=32,
        use_horizontal_flipping_inside_model=True,
    )
    _, inference_model = applications.init_model(
        settings, class_num=4, use_pretrained_backbone=False
    )
    path = str(folder / "inference_model.h5")
    applications.save_inference_model(inference_model, path, settings=settings, class_num=4)
    return path


@pytest.fixture(scope="module")
def killed_and_finished(tiny_model, tmp_path_factory):
    """The export chain: leftovers of earlier killed writes (and files that are not ours) in
    the folder; an export killed between its two renames; the same command again."""
    folder = tmp_path_factory.mktemp("chain") / "exported"
    folder.mkdir()
    ours = [
        "..model.onnx.a1b2c3d4.tmp.unchecked",
        ".model.q1w2e3r4.tmp.json",
        ".model.onnx.unchecked",
    ]
    theirs = ["notes.tmp", ".model.onnx.mine", "other.json", ".other.a1b2c3d4.tmp.json"]
    for name in ours + theirs:
        (folder / name).write_bytes(b"half")
    command = ["--model_file_path", tiny_model, "--output_path", str(folder / "model.onnx")]
    killed = run_export(
        command, environment=quiet_environment(FLIPREID_CRASH_AT="export renames model:1")
    )
    after_kill = sorted(os.listdir(folder))
    finished = run_export(command)
    again = run_export(command)
    return folder, ours, theirs, killed, after_kill, finished, again


def test_an_export_killed_between_its_renames_is_finished_by_the_same_command(
    killed_and_finished,
):
    folder, ours, theirs, killed, after_kill, finished, again = killed_and_finished
    returncode, output = killed
    assert returncode == -9, output[-3000:]
    # The description is in place, the checked model still hidden: what the finding saw.
    assert "model.json" in after_kill and "model.onnx" not in after_kill
    assert ".model.onnx.unchecked" in after_kill
    # The temporaries of killed writes into this path are gone; nothing else was touched.
    assert not set(ours[:2]) & set(after_kill) and set(theirs) <= set(after_kill)

    returncode, output = finished
    assert returncode == 0, output[-3000:]
    assert "Finished the export that an interrupted export.py left" in output
    assert "Loading" not in output  # nothing converted again
    assert sorted(os.listdir(folder)) == sorted([*theirs, "model.json", "model.onnx"])
    import onnxruntime

    with open(folder / "model.json") as description_file:
        description = json.load(description_file)
    session = onnxruntime.InferenceSession(
        str(folder / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    (embeddings,) = session.run(None, {"images": np.zeros((2, 64, 32, 3), np.float32)})
    assert embeddings.shape == (2, description["embedding_dimension"])

    assert_one_error(again, ["model.onnx' exists; nothing was changed"])


def test_the_hidden_leftovers_of_an_earlier_kill_are_cleared_before_converting(
    killed_and_finished,
):
    folder, ours, *_ = killed_and_finished
    _, output = killed_and_finished[3]
    assert "Removed 2 temporary file(s) that an interrupted export left" in output
    assert all(name in output for name in ours[:2])


def decided_export(tmp_path, *, staged: bool) -> tuple:
    """The files an export killed after its check leaves (hand-made), in tmp_path/exported: the
    checked model under its hidden name, its description staged (killed before the first
    rename) or in place (killed before the second). Returns (that folder, the model's bytes,
    the export.py command of that export)."""
    model_file = tmp_path / "inference_model.h5"
    model_file.write_bytes(b"not read")
    model_file_path = str(model_file)
    folder = tmp_path / "exported"
    folder.mkdir()
    model = b"checked model bytes"
    (folder / ".model.onnx.unchecked").write_bytes(model)
    description = {"format": "onnx", "layout": "pixels", "exported_from": model_file_path}
    name = ".model.json.staged" if staged else "model.json"
    (folder / name).write_text(json.dumps(description))
    command = ["--model_file_path", model_file_path, "--output_path", str(folder / "model.onnx")]
    return folder, model, command


@pytest.mark.parametrize("staged", [True, False])
def test_every_decided_state_is_finished_without_tensorflow(tmp_path, staged):
    """Killed before the description's rename, or before the model's (also what the earlier
    version left: a complete model.json and the checked .model.onnx.unchecked)."""
    folder, model, command = decided_export(tmp_path, staged=staged)
    returncode, output = run_export(command, environment=without_tensorflow(tmp_path / "no_tf"))
    assert returncode == 0, output[-3000:]
    assert "Finished the export that an interrupted export.py left" in output
    assert sorted(os.listdir(folder)) == ["model.json", "model.onnx"]
    assert (folder / "model.onnx").read_bytes() == model
    assert json.loads((folder / "model.json").read_text())["format"] == "onnx"


def test_ctrl_c_is_one_message_and_the_same_command_finishes(tmp_path):
    """Ctrl-C as the checked model is put in place: no traceback, exit status 130, nothing
    moved; the same command then finishes the export."""
    folder, model, command = decided_export(tmp_path, staged=False)
    before = sorted(os.listdir(folder))
    environment = without_tensorflow(tmp_path / "no_tf")
    returncode, output = run_export(
        command, environment={**environment, "FLIPREID_CRASH_AT": "export renames model:1:SIGINT"}
    )
    assert returncode == 130 and "Traceback" not in output, output[-3000:]
    assert "Stopped by Ctrl-C." in output
    assert sorted(os.listdir(folder)) == before
    returncode, output = run_export(command, environment=environment)
    assert returncode == 0, output[-3000:]
    assert sorted(os.listdir(folder)) == ["model.json", "model.onnx"]
    assert (folder / "model.onnx").read_bytes() == model


def test_a_decided_saved_model_export_is_finished_as_a_folder(tmp_path):
    model_file = tmp_path / "training_model.h5"
    model_file.write_bytes(b"not read")
    folder = tmp_path / "exported"
    (folder / ".saved_model.unchecked" / "variables").mkdir(parents=True)
    (folder / ".saved_model.unchecked" / "saved_model.pb").write_bytes(b"graph")
    description = {"format": "saved_model", "layout": "pixels", "exported_from": str(model_file)}
    (folder / ".saved_model.json.staged").write_text(json.dumps(description))
    command = ["--model_file_path", str(model_file), "--format", "saved_model"]
    command += ["--output_path", str(folder / "saved_model")]
    returncode, output = run_export(command, environment=without_tensorflow(tmp_path / "no_tf"))
    assert returncode == 0, output[-3000:]
    assert sorted(os.listdir(folder)) == ["saved_model", "saved_model.json"]
    assert sorted(os.listdir(folder / "saved_model")) == ["saved_model.pb", "variables"]


def test_an_undecided_export_is_cleared_and_a_users_description_never_taken(tmp_path):
    """A model killed before its check ended has no staged description: it is removed, never
    put in place. A model.json of the user's beside such a model is not an export's
    description: it is left alone, and the path refused."""
    folder = tmp_path / "exported"
    folder.mkdir()
    (folder / ".model.onnx.unchecked").write_bytes(b"maybe wrong")
    (folder / ".model.json.staged").write_text("garbage, as if damaged")
    command = ["--model_file_path", str(tmp_path / "missing.h5")]
    command += ["--output_path", str(folder / "model.onnx")]
    environment = without_tensorflow(tmp_path / "no_tf")
    assert_one_error(run_export(command, environment=environment), ["is not a file"])
    assert os.listdir(folder) == []
    (folder / ".model.onnx.unchecked").write_bytes(b"maybe wrong")
    (folder / "model.json").write_text('{"mine": true}')
    assert_one_error(run_export(command, environment=environment), ["model.json' exists"])
    assert os.listdir(folder) == ["model.json"]
    assert (folder / "model.json").read_text() == '{"mine": true}'


def test_one_export_at_a_time_holds_an_output_path(tmp_path):
    """While another process holds the path's lock, export.py stops at once, saying who holds
    it, and changes nothing; a lock file left by a killed holder does not block."""
    folder, model, command = decided_export(tmp_path, staged=True)
    before = sorted(os.listdir(folder))
    environment = without_tensorflow(tmp_path / "no_tf")
    with open(folder / ".model.onnx.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write(json.dumps({"pid": 4242, "host": "h", "started": "s", "command": "export.py"}))
        lock.flush()
        assert_one_error(
            run_export(command, environment=environment),
            ["is in use by another process (process 4242 on h", "choose another --output_path"],
        )
        assert sorted(os.listdir(folder)) == sorted([*before, ".model.onnx.lock"])
    returncode, output = run_export(command, environment=environment)  # the lock file stays
    assert returncode == 0, output[-3000:]
    assert sorted(os.listdir(folder)) == ["model.json", "model.onnx"]
    assert (folder / "model.onnx").read_bytes() == model


def test_a_path_that_cannot_be_written_is_told_before_tensorflow_is_imported(tmp_path):
    (tmp_path / "a_file").write_text("")
    model_file = tmp_path / "inference_model.h5"
    model_file.write_bytes(b"not read")
    command = ["--model_file_path", str(model_file)]
    command += ["--output_path", str(tmp_path / "a_file" / "exported" / "model.onnx")]
    assert_one_error(
        run_export(command, environment=without_tensorflow(tmp_path / "no_tf")),
        [f"cannot be written: {tmp_path / 'a_file'} is a file, not a folder", "--output_path"],
    )


def test_the_first_line_comes_before_tensorflow_is_imported(tmp_path):
    """Importing TensorFlow and loading the model take tens of seconds on a busy machine: the
    program says so before it starts."""
    model_file = tmp_path / "inference_model.h5"
    model_file.write_bytes(b"not read")
    command = ["--model_file_path", str(model_file)]
    command += ["--output_path", str(tmp_path / "model.onnx")]
    _, output = run_export(command, environment=without_tensorflow(tmp_path / "no_tf"))
    lines = output.splitlines()
    assert lines[0].startswith(f"Loading {model_file} with TensorFlow"), output[-3000:]
    assert "imported where it must not be" in output  # and only then TensorFlow


def test_a_full_disk_names_the_users_path_its_flag_and_the_size_needed(
    tiny_model, killed_and_finished, tmp_path
):
    """Files of at most 1 MB (RLIMIT_FSIZE: a write past it fails with EFBIG, a stand-in for a
    full disk that the message names as a limit): the message names the path asked for and
    --output_path, with the whole model's size, and nothing is left behind."""
    exported_size = os.path.getsize(killed_and_finished[0] / "model.onnx")
    folder = tmp_path / "exported"
    command = [sys.executable, "-u", "export.py", "--model_file_path", tiny_model]
    command += ["--output_path", str(folder / "model.onnx")]

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (2**20, 2**20))

    result = subprocess.run(
        command,
        cwd=REPOSITORY,
        env=quiet_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
        preexec_fn=limit_file_size,
    )
    output = result.stdout
    assert_one_error(
        (result.returncode, output),
        [
            f"Cannot write model.onnx into {folder}: the file reached a limit on the size",
            "1.0 MB (ulimit -f)",
            "point --output_path at a file system that takes larger files",
        ],
    )
    assert ".unchecked" not in output[output.index("Error: ") :]
    needed = re.search(r"it needed about ([0-9.]+) MB", output)
    assert needed and abs(float(needed[1]) - exported_size / 2**20) <= 0.1, output[-2000:]
    assert os.listdir(folder) == []
