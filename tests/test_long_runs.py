"""Long runs: a run killed (SIGKILL) in either phase, or stopped (SIGTERM), and then started again
with the same command ends exactly like an uninterrupted one; refusals, divergence, TensorBoard
and progress lines."""

import concurrent.futures
import glob
import os
import re
import shutil
import signal

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from conftest import (
    SHRUNK,
    TINY_SYNTHETIC,
    run_solution,
    start_solution,
    synthetic_dataset_flags,
)

from datasets import generate_synthetic_dataset

# Epochs 1-2 with a frozen backbone, 3-4 of the whole model, 4 steps each.
RUN = [
    *SHRUNK,
    *synthetic_dataset_flags(),
    "--freeze_backbone_for_N_epochs",
    "2",
    "--epoch_num",
    "2",
    "--steps_per_epoch",
    "4",
    "--evaluate_testing_every_N_epochs",
    "1",
    "--use_horizontal_flipping_inside_model",
    "--learning_rate_mode",
    "constant",
    "--learning_rate_start",
    "5e-4",
    "--learning_rate_end",
    "5e-4",
]
FOLDER_NAME = "Synthetic_resnet18"


def run_until(arguments, pattern, signal_number):
    """Start solution.py, send `signal_number` once a line holds `pattern`; (status, output)."""
    process = start_solution(arguments)
    lines = []
    for line in process.stdout:
        lines.append(line)
        if pattern in line:
            process.send_signal(signal_number)
            break
    rest, _ = process.communicate(timeout=600)
    return process.returncode, "".join(lines) + rest


def checkpoint_values(folder_path):
    """{name: value} of every variable in the latest checkpoint (model and optimizer)."""
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(folder_path))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def events(log_folder_path):
    """{tag: [(step, value), ...]} over every event file, read with TensorFlow's reader."""
    found = {}
    for file_path in sorted(glob.glob(os.path.join(log_folder_path, "events.out.tfevents.*"))):
        for record in tf.data.TFRecordDataset(file_path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                scalar = float(tf.make_ndarray(value.tensor)) if value.HasField("tensor") else None
                found.setdefault(value.tag, []).append((event.step, scalar))
    return found


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An uninterrupted run, and the same run interrupted three times: SIGKILL in epoch 2
    (frozen backbone), SIGKILL in epoch 3 (whole model), SIGTERM in epoch 4, each time started
    again with the same command."""
    root = tmp_path_factory.mktemp("runs")
    data = str(root / "data")
    generate_synthetic_dataset(data, TINY_SYNTHETIC)
    uninterrupted = [*RUN, "--root_folder_path", data, "--output_folder_path", str(root / "u")]
    interrupted = [*RUN, "--root_folder_path", data, "--output_folder_path", str(root / "i")]

    def interrupted_chain():
        outputs = [run_until(interrupted, "epoch 2, step 2/4", signal.SIGKILL)]
        outputs.append(run_until(interrupted, "epoch 3, step 2/4", signal.SIGKILL))
        outputs.append(run_until(interrupted, "epoch 4, step 2/4", signal.SIGTERM))
        outputs.append(run_solution(interrupted))
        return outputs

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        chain = pool.submit(interrupted_chain)
        straight = pool.submit(run_solution, uninterrupted)
        return {
            "uninterrupted": (straight.result(), root / "u" / FOLDER_NAME, uninterrupted),
            "interrupted": (chain.result(), root / "i" / FOLDER_NAME, interrupted),
        }


def test_interrupted_runs_end_like_the_uninterrupted_one(runs):
    (status, output), folder, _ = runs["uninterrupted"]
    assert status == 0, output[-3000:]
    outputs, resumed_folder, _ = runs["interrupted"]
    statuses = [status for status, _ in outputs]
    assert statuses == [-signal.SIGKILL, -signal.SIGKILL, 143, 0], outputs[-1][1][-3000:]
    assert "Resuming from" not in outputs[0][1]
    assert "after epoch 1 of 4 (epoch 1 of 2 of phase 'frozen backbone')" in outputs[1][1]
    assert "after epoch 2 of 4 (epoch 2 of 2 of phase 'frozen backbone')" in outputs[2][1]
    # The step in progress when SIGTERM came (2 or 3) is finished, then saved.
    stopped_step = re.search(r"Stopped on SIGTERM after step (\d) of epoch 4", outputs[2][1])
    assert stopped_step and stopped_step[1] in "23", outputs[2][1][-3000:]
    assert (
        f"after step {stopped_step[1]} of 4 of epoch 4 of 4 (epoch 2 of 2 of phase 'whole model')"
    ) in outputs[3][1]
    stop_message = outputs[2][1]
    assert "To continue, run the same command again:\n  python3 -u solution.py" in stop_message
    assert "Traceback" not in "".join(output for _, output in outputs)

    expected = pd.read_csv(folder / "history.csv")
    resumed = pd.read_csv(resumed_folder / "history.csv")
    assert expected["epoch"].tolist() == [1, 2, 3, 4]
    assert (expected["epoch_seconds"] > 0).all()  # wall time: the one column that may differ
    pd.testing.assert_frame_equal(
        resumed.drop(columns="epoch_seconds"), expected.drop(columns="epoch_seconds"), rtol=1e-6
    )
    assert "test_mAP" in expected and "flipping" in expected
    expected_values = checkpoint_values(folder / "checkpoints")
    resumed_values = checkpoint_values(resumed_folder / "checkpoints")
    assert expected_values.keys() == resumed_values.keys()
    optimizer_moments = [name for name in expected_values if name.startswith("model/optimizer")]
    assert len(optimizer_moments) > 100  # slots and the step count are part of the checkpoint
    for name, value in expected_values.items():
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            np.testing.assert_allclose(resumed_values[name], value, rtol=1e-5, atol=1e-7)
    assert expected_values["model/optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"] == 16
    assert len(glob.glob(str(resumed_folder / "checkpoints" / "*.index"))) == 2  # the last two


def test_tensorboard_holds_every_epoch_and_step_once(runs):
    for _, folder, _ in (runs["uninterrupted"], runs["interrupted"]):
        written = events(folder / "tensorboard")
        history = pd.read_csv(folder / "history.csv")
        for column in ("loss", "flipping", "learning_rate", "test_mAP", "global_pooling_power"):
            assert [step for step, _ in written[f"epoch/{column}"]] == [1, 2, 3, 4], column
            values = [value for _, value in written[f"epoch/{column}"]]
            np.testing.assert_allclose(values, history[column], rtol=1e-6)
        # The resumed run appends: each training step once, in order, over several files.
        assert [step for step, _ in written["step/loss"]] == list(range(1, 17))
    assert len(glob.glob(str(runs["interrupted"][1] / "tensorboard" / "events*"))) > 1


def test_progress_lines_within_epochs_when_output_is_not_a_terminal(runs):
    (_, output), _, _ = runs["uninterrupted"]
    for epoch in (1, 4):
        for step in (1, 2, 3):
            assert f"  epoch {epoch}, step {step}/4 ({100 * step / 4:.0f}%): " in output
        assert f"epoch {epoch}, step 4/4" not in output  # the epoch's own line follows
    assert "images/s" in output and "left in the epoch" in output
    assert "\r" not in output and "\b" not in output


def test_finished_runs_refuse_and_other_flags_are_listed(runs, tmp_path):
    (_, _), folder, arguments = runs["uninterrupted"]
    before = {
        path: os.path.getmtime(path) for path in glob.glob(str(folder / "**"), recursive=True)
    }
    status, output = run_solution(arguments)
    assert status == 1 and "already holds a finished run; nothing was changed" in output
    # An unfinished copy (its final file missing): other flags are refused, listed.
    copy_root = tmp_path / "copy"
    shutil.copytree(folder, copy_root / FOLDER_NAME)
    os.remove(copy_root / FOLDER_NAME / "inference_model.h5")
    moved = [*arguments, "--output_folder_path", str(copy_root)]
    status, output = run_solution([*moved, "--seed", "1", "--epoch_num", "3", "--workers", "1"])
    assert status == 1 and "holds an unfinished run with other flags" in output
    assert "--seed: 0 -> 1" in output and "--epoch_num: 2 -> 3" in output
    assert "--workers" not in output.split("Flags that differ")[1]
    assert "Traceback" not in output
    # The same flags continue it: nothing is left to train, the final file is written.
    status, output = run_solution(moved)
    assert status == 0 and "after its last epoch (4)" in output, output[-2000:]
    assert (copy_root / FOLDER_NAME / "inference_model.h5").is_file()
    after = {path: os.path.getmtime(path) for path in before}
    assert after == before  # the original was never touched


def test_a_diverging_run_stops_at_once_and_keeps_what_was_good(runs, tmp_path):
    (_, _), folder, arguments = runs["uninterrupted"]
    data = arguments[arguments.index("--root_folder_path") + 1]
    # Epoch 1 (frozen) and 2 (the first of the whole model) at 5e-4, epoch 3 at 1e9.
    diverging = [
        *RUN,
        "--root_folder_path",
        data,
        "--output_folder_path",
        str(tmp_path),
        "--learning_rate_mode",
        "linear",
        "--learning_rate_end",
        "1e9",
        "--freeze_backbone_for_N_epochs",
        "1",
    ]
    status, output = run_solution(diverging)
    assert status == 1, output[-3000:]
    message = output[output.index("Error: Training diverged") :]
    assert "Training diverged at epoch 3, step" in message
    assert "these loss terms are not finite (NaN or infinite): loss," in message
    assert "The learning rate was 1e+09; try a lower one" in message
    assert "ckpt-8" in message and "training_model.h5" in message
    assert "Traceback" not in output and "distmat contains NaN" not in output
    checkpoints = tmp_path / FOLDER_NAME / "checkpoints"
    assert tf.train.latest_checkpoint(str(checkpoints)).endswith("ckpt-8")
    assert pd.read_csv(tmp_path / FOLDER_NAME / "history.csv")["epoch"].tolist() == [1, 2]
