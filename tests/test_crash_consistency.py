"""Long runs, and a run folder that survives any instant. A run is killed (SIGKILL) at instants
drawn over its whole life (between and inside training steps of both phases, inside a checkpoint
save, right after one, between result files, inside a weights file's write, between the two
inference-model files, before the finished mark) and stopped by SIGTERM in the middle of an
epoch and in an epoch's last step; each time the same command runs again. The end is the
uninterrupted run's, file by file, TensorBoard events and optimizer state included. Also: one
writer per folder, damaged checkpoints skipped, a changed dataset refused, a full disk and
missing permissions explained, finished runs and other flags refused, divergence stopped.

The instants are crash_points.py's, chosen with FLIPREID_CRASH_AT; each counts within one
process, so the chain below walks through the run's life: every process resumes from the last
durable state and dies further on.
"""

import concurrent.futures
import filecmp
import glob
import json
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from conftest import (
    REPOSITORY,
    SHRUNK,
    TINY_SYNTHETIC,
    assert_identical,
    quiet_environment,
    run_solution,
    start_solution,
    synthetic_dataset_flags,
)

import applications
from datasets import generate_synthetic_dataset

# 2 frozen + 2 whole-model epochs of 3 steps, evaluated after each.
RUN = [
    *SHRUNK,
    *synthetic_dataset_flags(),
    "--freeze_backbone_for_N_epochs",
    "2",
    "--epoch_num",
    "2",
    "--steps_per_epoch",
    "3",
    "--evaluate_testing_every_N_epochs",
    "1",
    "--use_horizontal_flipping_inside_model",
    "--learning_rate_mode",
    "constant",
    "--learning_rate_start",
    "5e-4",
    "--learning_rate_end",
    "5e-4",
    "--checkpoints_kept_after_training",
    "2",  # a copy of the finished run can then fall back from its last checkpoint
]
FOLDER_NAME = "Synthetic_resnet18"


def crash_plan(seed: int = 0) -> list[str]:
    """One FLIPREID_CRASH_AT spec per start, in the order of a run's life (each start resumes
    from the last durable state, so its counts start there); the delays and step numbers are
    drawn with `seed`."""
    rng = random.Random(seed)
    return [
        f"checkpoint save:1:{rng.uniform(0.05, 0.3):.2f}",  # inside the first checkpoint save
        "checkpoint saved:1",  # the first checkpoint is durable, its epoch's results not written
        "writing training_model.h5:1",  # at the resume, inside the best weights' write
        f"train step begins:{rng.randint(1, 3)}:{rng.uniform(0.05, 0.2):.2f}",  # inside a step
        "train step begins:2:SIGTERM",  # SIGTERM in the middle of epoch 2: saved after step 2
        "train step begins:1:SIGTERM",  # SIGTERM in the last step of epoch 2: after the epoch
        f"train step begins:{rng.randint(1, 3)}:{rng.uniform(0.05, 0.2):.2f}",  # epoch 3 (whole)
        "wrote inference_model.h5:1",  # between the two inference-model files
        "wrote inference_model.json:1",  # before the finished mark
    ]


def run_with_crash(arguments, spec, timeout=600, **environment_changes):
    environment = quiet_environment(FLIPREID_CRASH_AT=spec, **environment_changes)
    process = start_solution(arguments, environment=environment)
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


def weights_of(file_path):
    """{layer/weight name: value} of a Keras .h5 weights file."""
    values = {}
    with h5py.File(file_path, "r") as weights_file:
        for layer_name in weights_file.attrs["layer_names"]:
            layer_name = layer_name.decode() if isinstance(layer_name, bytes) else layer_name
            group = weights_file[layer_name]
            for name in group.attrs["weight_names"]:
                name = name.decode() if isinstance(name, bytes) else name
                values[f"{layer_name}/{name}"] = np.asarray(group[name])
    return values


def assert_same_weights(found_path, expected_path):
    found, expected = weights_of(found_path), weights_of(expected_path)
    assert found.keys() == expected.keys()
    for name, value in expected.items():
        assert_identical(found[name], value, what=f"{found_path}, weight {name}")


def checkpoint_values(folder_path):
    """{name: value} of every variable in the latest checkpoint (model and optimizer)."""
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(folder_path)))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def assert_same_checkpoint_values(found_values, expected_values, *, where):
    for name, value in expected_values.items():
        if isinstance(value, np.ndarray) and value.dtype.kind in "fiu":
            assert_identical(found_values[name], value, what=f"{where}/checkpoints, {name}")


def tensorboard_events(log_folder_path):
    """{tag: [(step, value), ...]} over every event file, read with TensorFlow's reader."""
    found = {}
    for file_path in sorted(glob.glob(os.path.join(log_folder_path, "events.out.tfevents.*"))):
        for record in tf.data.TFRecordDataset(file_path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                scalar = float(tf.make_ndarray(value.tensor)) if value.HasField("tensor") else None
                found.setdefault(value.tag, []).append((event.step, scalar))
    return found


def assert_same_run(found_folder, expected_folder):
    """The same history, results, weights and description, exactly (the wall times, in
    timing.csv, aside)."""
    expected = pd.read_csv(expected_folder / "history.csv")
    found = pd.read_csv(found_folder / "history.csv")
    assert expected["epoch"].tolist() == [1, 2, 3, 4]
    assert found.columns.tolist() == expected.columns.tolist()
    for column in expected.columns:
        assert_identical(
            found[column], expected[column], what=f"{found_folder}/history.csv, column {column}"
        )
    for name in ("history.csv", "history.pkl"):  # byte for byte, as the README says
        assert filecmp.cmp(found_folder / name, expected_folder / name, shallow=False), name
    timing = pd.read_csv(found_folder / "timing.csv")
    assert timing["epoch"].tolist() == [1, 2, 3, 4] and (timing["epoch_seconds"] > 0).all()
    for name in ("results.csv", "results.json"):
        if (expected_folder / name).exists():
            assert (found_folder / name).read_text() == (expected_folder / name).read_text(), name
    for name in ("training_model.h5", "inference_model.h5"):
        assert_same_weights(found_folder / name, expected_folder / name)
        assert filecmp.cmp(found_folder / name, expected_folder / name, shallow=False), name
    assert json.loads((found_folder / "inference_model.json").read_text()) == json.loads(
        (expected_folder / "inference_model.json").read_text()
    )
    assert (found_folder / "finished.json").is_file()
    leftovers = [
        path
        for path in glob.glob(str(found_folder / "**" / "*"), recursive=True)
        if ".tmp" in os.path.basename(path) or "_temp" in os.path.basename(path)
    ]
    assert leftovers == []


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("crash_data")
    generate_synthetic_dataset(str(root), TINY_SYNTHETIC)
    return root


def crash_chain_and_uninterrupted_run(data, root, plan, **environment_changes):
    """An uninterrupted run, and the same run crashed at each instant of `plan` (crash_plan()'s
    form) and started again each time, then once more to its end and once after that; both at
    once."""
    uninterrupted = [*RUN, "--root_folder_path", str(data), "--output_folder_path", str(root / "u")]
    crashed = [*RUN, "--root_folder_path", str(data), "--output_folder_path", str(root / "c")]
    environment = quiet_environment(**environment_changes)

    def crash_chain():
        started = time.perf_counter()
        outputs = [run_with_crash(crashed, spec, **environment_changes) for spec in plan]
        outputs.append(run_solution(crashed, environment=environment))
        outputs.append(run_solution(crashed, environment=environment))
        return outputs, time.perf_counter() - started

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        crashes = pool.submit(crash_chain)
        straight = pool.submit(run_solution, uninterrupted, environment=environment)
        (outputs, seconds), (status, output) = crashes.result(), straight.result()
    assert status == 0, output[-3000:]
    return {
        "outputs": outputs,
        "uninterrupted_output": output,
        "seconds": seconds,
        "crashed": root / "c" / FOLDER_NAME,
        "uninterrupted": root / "u" / FOLDER_NAME,
        "arguments": uninterrupted,
    }


@pytest.fixture(scope="module")
def chain(data, tmp_path_factory):
    """The crash chain in the kernels TensorFlow picks here (oneDNN's on x86 CPUs)."""
    return crash_chain_and_uninterrupted_run(
        data, tmp_path_factory.mktemp("crash_runs"), crash_plan()
    )


def test_killed_at_any_instant_the_same_command_ends_as_the_uninterrupted_run(chain):
    check_crash_chain(chain)


@pytest.mark.slow
def test_the_same_with_eigen_kernels(data, tmp_path):
    """A shorter chain with TensorFlow's Eigen kernels (TF_ENABLE_ONEDNN_OPTS=0), which sum in
    other orders than oneDNN's: exactness must not depend on the kernel set. Killed after the
    frozen phase's last checkpoint, then inside a whole-model step, then stopped by SIGTERM in
    the middle of an epoch, and run to its end."""
    plan = ["checkpoint saved:2", "train step begins:2:0.10", "train step begins:2:SIGTERM"]
    chain = crash_chain_and_uninterrupted_run(data, tmp_path, plan, TF_ENABLE_ONEDNN_OPTS="0")
    statuses = [status for status, _ in chain["outputs"]]
    assert statuses == [-signal.SIGKILL, -signal.SIGKILL, 143, 0, 1], chain["outputs"][-1][1]
    assert "Eigen kernels" in chain["uninterrupted_output"]
    assert "after step 2 of 3 of epoch 3 of 4" in chain["outputs"][3][1]
    assert_same_run(chain["crashed"], chain["uninterrupted"])
    assert_same_checkpoint_values(
        checkpoint_values(chain["crashed"] / "checkpoints"),
        checkpoint_values(chain["uninterrupted"] / "checkpoints"),
        where=chain["crashed"],
    )


def check_crash_chain(chain):
    """Every start of the chain ended as planned, and the crashed run ends exactly as the
    uninterrupted one: history, results, weights, optimizer state."""
    outputs = chain["outputs"]
    statuses = [status for status, _ in outputs]
    plan = crash_plan()
    terminated = [index for index, spec in enumerate(plan) if spec.endswith("SIGTERM")]
    expected = [143 if index in terminated else -signal.SIGKILL for index in range(len(plan))]
    assert statuses == [*expected, 0, 1], "\n\n".join(output[-1500:] for _, output in outputs)
    everything = "".join(output for _, output in outputs)
    assert "Traceback" not in everything
    # The start after the cut-short first save began anew; the next one resumed after epoch 1.
    assert "Resuming from" not in outputs[1][1]
    assert "after epoch 1 of 4 (epoch 1 of 2 of phase 'frozen backbone')" in outputs[2][1]
    # SIGTERM in the middle of epoch 2 saved after its step, with the command that continues;
    middle, last = (outputs[index][1] for index in terminated)
    assert "Stopped on SIGTERM after step 2 of epoch 2" in middle
    assert "To continue, run the same command again:\n  python3 -u solution.py" in middle
    # the next start went on from there, and SIGTERM in the epoch's last step ended the epoch.
    assert "after step 2 of 3 of epoch 2 of 4 (epoch 2 of 2 of phase 'frozen backbone')" in last
    assert "Stopped on SIGTERM after epoch 2" in last
    assert "after epoch 2 of 4 (epoch 2 of 2 of phase 'frozen backbone')" in outputs[6][1]
    assert "already holds a finished run; nothing was changed" in outputs[-1][1]
    assert_same_run(chain["crashed"], chain["uninterrupted"])
    # The optimizer's state too: its moments and step count (4 epochs of 3 steps).
    expected_values = checkpoint_values(chain["uninterrupted"] / "checkpoints")
    found_values = checkpoint_values(chain["crashed"] / "checkpoints")
    assert expected_values.keys() == found_values.keys()
    assert len([name for name in expected_values if name.startswith("model/optimizer")]) > 100
    assert_same_checkpoint_values(found_values, expected_values, where=chain["crashed"])
    assert expected_values["model/optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"] == 12
    # Finished: the last two checkpoints are kept (--checkpoints_kept_after_training 2).
    assert len(glob.glob(str(chain["crashed"] / "checkpoints" / "*.index"))) == 2
    # search.py's way of loading the inference model accepts the file.
    inference_model = applications.load_inference_model(
        str(chain["crashed"] / "inference_model.h5")
    )
    assert inference_model.input_shape[1:3] == (64, 32)
    print(f"{len(plan)} kill instants, {chain['seconds']:.0f} s for the chain")


def test_tensorboard_holds_every_epoch_and_step_once(chain):
    for folder in (chain["uninterrupted"], chain["crashed"]):
        written = tensorboard_events(str(folder / "tensorboard"))
        history = pd.read_csv(folder / "history.csv")
        for column in ("loss", "flipping", "learning_rate", "test_mAP", "global_pooling_power"):
            assert [step for step, _ in written[f"epoch/{column}"]] == [1, 2, 3, 4], column
            values = [value for _, value in written[f"epoch/{column}"]]
            csv_column = f"{column}_fraction" if column.startswith("test_") else column
            np.testing.assert_allclose(values, history[csv_column], rtol=1e-6)
        # Each training step once, in order, over the starts' several event files.
        assert [step for step, _ in written["step/loss"]] == list(range(1, 13))
    assert len(glob.glob(str(chain["crashed"] / "tensorboard" / "events*"))) > 1


def test_progress_lines_within_epochs_when_output_is_not_a_terminal(chain):
    output = chain["uninterrupted_output"]
    for epoch in (1, 4):
        for step in (1, 2):
            assert f"  epoch {epoch}, step {step}/3 ({100 * step / 3:.0f}%): " in output
        assert f"epoch {epoch}, step 3/3" not in output  # the epoch's own line follows
    assert "images/s" in output and "left in the epoch" in output
    assert "\r" not in output and "\b" not in output


def test_finished_runs_refuse_and_other_flags_are_listed(chain, tmp_path):
    folder, arguments = chain["uninterrupted"], chain["arguments"]
    before = {  # all but the lock, which every start takes
        path: os.path.getmtime(path)
        for path in glob.glob(str(folder / "**"), recursive=True)
        if not path.endswith(".flipreid.lock")
    }
    status, output = run_solution(arguments)
    assert status == 1 and "already holds a finished run; nothing was changed" in output
    # An unfinished copy (its final files missing, its finished mark damaged): other flags are
    # refused, listed.
    copy_root = tmp_path / "copy"
    shutil.copytree(folder, copy_root / FOLDER_NAME)
    for name in ("inference_model.h5", "inference_model.json"):
        os.remove(copy_root / FOLDER_NAME / name)
    (copy_root / FOLDER_NAME / "finished.json").write_text("{garbage")
    moved = [*arguments, "--output_folder_path", str(copy_root)]
    status, output = run_solution([*moved, "--seed", "1", "--epoch_num", "3", "--workers", "1"])
    assert status == 1 and "holds an unfinished run with other flags" in output
    assert "finished.json in " in output and "is not the mark a finished run writes" in output
    assert "--seed: 0 -> 1" in output and "--epoch_num: 2 -> 3" in output
    assert "--workers" not in output.split("Flags that differ")[1]
    assert "Traceback" not in output
    # Without its flags.txt, the advice is where its flags still are (log.txt).
    flags_file = copy_root / FOLDER_NAME / "flags.txt"
    saved_flags = flags_file.read_text()
    flags_file.unlink()
    status, output = run_solution(moved)
    assert status == 1 and "flags.txt: missing or empty" in output
    assert "log.txt in that folder begins each start with the flags it ran with" in output
    flags_file.write_text(saved_flags)
    # The same flags continue it: nothing is left to train, the final files are written.
    status, output = run_solution(moved)
    assert status == 0 and "after its last epoch (4)" in output, output[-2000:]
    assert (copy_root / FOLDER_NAME / "inference_model.h5").is_file()
    assert "finished" in json.loads((copy_root / FOLDER_NAME / "finished.json").read_text())
    after = {path: os.path.getmtime(path) for path in before}
    assert after == before  # the original was never touched


def test_a_diverging_run_stops_at_once_and_keeps_what_was_good(data, tmp_path):
    # Epoch 1 (frozen) and 2 (the first of the whole model) at 5e-4, epoch 3 at 1e9.
    diverging = [
        *RUN,
        "--root_folder_path",
        str(data),
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
    assert "ckpt-6" in message and "training_model.h5" in message
    assert "Traceback" not in output and "distmat contains NaN" not in output
    checkpoints = tmp_path / FOLDER_NAME / "checkpoints"
    assert tf.train.latest_checkpoint(str(checkpoints)).endswith("ckpt-6")
    assert pd.read_csv(tmp_path / FOLDER_NAME / "history.csv")["epoch"].tolist() == [1, 2]


def copy_of_the_run(chain, tmp_path, *, unfinish=True):
    """A copy of the uninterrupted run's folder with its final files removed (a run stopped
    after its last checkpoint), and the arguments that continue it."""
    folder = tmp_path / "copy" / FOLDER_NAME
    shutil.copytree(chain["uninterrupted"], folder, ignore=shutil.ignore_patterns(".flipreid.lock"))
    if unfinish:
        for name in ("finished.json", "inference_model.h5", "inference_model.json"):
            os.remove(folder / name)
    arguments = [*chain["arguments"], "--output_folder_path", str(tmp_path / "copy")]
    return folder, arguments


def test_a_damaged_newest_checkpoint_is_reported_and_the_previous_one_used(chain, tmp_path):
    folder, arguments = copy_of_the_run(chain, tmp_path)
    data_file = folder / "checkpoints" / "ckpt-12.data-00000-of-00001"
    with open(data_file, "r+b") as damaged:
        damaged.truncate(os.path.getsize(data_file) // 2)
    status, output = run_solution(arguments)
    assert status == 0, output[-3000:]
    assert f"the checkpoint {folder / 'checkpoints' / 'ckpt-12'} cannot be used (damaged" in output
    assert f"moved into {folder / 'checkpoints' / 'unusable'}" in output
    assert "Resuming from" in output and "ckpt-9, after epoch 3 of 4" in output
    assert (folder / "checkpoints" / "unusable" / "ckpt-12.data-00000-of-00001").is_file()
    assert_same_run(folder, chain["uninterrupted"])  # epoch 4 again, the same
    # A deleted .index: reported and moved aside as well, its data file kept.
    folder, arguments = copy_of_the_run(chain, tmp_path / "second")
    os.remove(folder / "checkpoints" / "ckpt-12.index")
    status, output = run_solution(arguments)
    assert status == 0, output[-3000:]
    assert "ckpt-12 cannot be used" in output and "ckpt-12.index file is missing" in output
    assert (folder / "checkpoints" / "unusable" / "ckpt-12.data-00000-of-00001").is_file()
    assert "Resuming from" in output and "ckpt-9, after epoch 3 of 4" in output
    assert_same_run(folder, chain["uninterrupted"])


def test_a_garbled_state_file_and_no_usable_checkpoint(chain, tmp_path):
    folder, arguments = copy_of_the_run(chain, tmp_path)
    (folder / "checkpoints" / "checkpoint").write_text("garbage {{{")
    status, output = run_solution(arguments)  # the scan finds ckpt-12 all the same
    assert status == 0 and "after its last epoch (4)" in output, output[-3000:]
    # Every checkpoint damaged: refused, naming them, nothing deleted.
    folder, arguments = copy_of_the_run(chain, tmp_path / "second")
    for index_file in glob.glob(str(folder / "checkpoints" / "*.index")):
        with open(index_file, "r+b") as damaged:
            damaged.seek(40)
            damaged.write(b"\x00" * 8)
    status, output = run_solution(arguments)
    assert status == 1 and "None of the checkpoints of this run can be restored" in output
    assert "ckpt-12" in output and "ckpt-9" in output and "Traceback" not in output
    assert len(glob.glob(str(folder / "checkpoints" / "**" / "*.index"), recursive=True)) == 2


def test_a_changed_dataset_is_refused_and_a_moved_one_accepted(chain, data, tmp_path):
    folder, arguments = copy_of_the_run(chain, tmp_path)
    changed = tmp_path / "changed_data"
    shutil.copytree(data, changed)
    train_folder = glob.glob(str(changed / "*" / "*" / "bounding_box_train"))[0]
    removed = sorted(os.listdir(train_folder))[5]
    os.remove(os.path.join(train_folder, removed))
    moved = [*arguments, "--root_folder_path", str(changed)]
    status, output = run_solution(moved)
    assert status == 1, output[-3000:]
    assert "The dataset is not the one the run in progress" in output
    assert f"train: 1 removed (bounding_box_train/{removed})" in output
    assert "Traceback" not in output
    # The same files somewhere else: the run continues.
    elsewhere = tmp_path / "moved_data"
    shutil.copytree(data, elsewhere)
    status, output = run_solution([*arguments, "--root_folder_path", str(elsewhere)])
    assert status == 0 and "after its last epoch (4)" in output, output[-3000:]


def test_one_writer_per_folder_and_the_lock_dies_with_its_holder(data, tmp_path):
    arguments = [
        *RUN,
        "--root_folder_path",
        str(data),
        "--output_folder_path",
        str(tmp_path),
        "--steps_per_epoch",
        "30",
    ]
    holder = start_solution(arguments)
    for line in holder.stdout:  # the lock is taken before the folder is prepared
        if line.startswith("Output folder:"):
            break
    started = time.perf_counter()
    status, output = run_solution(arguments)
    assert status == 1 and time.perf_counter() - started < 60
    assert f"is in use by another run (process {holder.pid} on " in output
    assert "this one stops without changing anything" in output
    holder.kill()
    holder.communicate(timeout=60)
    # The lock died with its holder: the same command starts, and trains (stopped after a step).
    status, output = run_with_crash(arguments, "train step ends:1")
    assert status == -signal.SIGKILL and "epoch 1, step 1/30" not in output, output[-3000:]
    assert "in use by another run" not in output and "Phase: frozen backbone" in output


def restricted(command):
    """`command` without the power to ignore file permissions: as root, the capabilities that
    override them are dropped (root reads and writes everything otherwise)."""
    if os.geteuid() != 0:
        return command
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--", *command]


def test_missing_permissions_are_explained(data, tmp_path):
    readable_data = tmp_path / "data"
    shutil.copytree(data, readable_data)
    locked_output = tmp_path / "locked_output"
    locked_output.mkdir()
    os.chmod(locked_output, 0o555)
    command = [sys.executable, "-u", "solution.py", *RUN, "--root_folder_path", str(readable_data)]
    result = subprocess.run(
        restricted([*command, "--output_folder_path", str(locked_output)]),
        cwd=REPOSITORY,
        env=quiet_environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert f"permission denied: {locked_output} is not writable for this user" in output
    assert "Traceback" not in output
    split_folder = glob.glob(str(readable_data / "*" / "*" / "bounding_box_train"))[0]
    os.chmod(split_folder, 0o000)
    try:
        result = subprocess.run(
            restricted([*command, "--output_folder_path", str(tmp_path / "output")]),
            cwd=REPOSITORY,
            env=quiet_environment(),
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        os.chmod(split_folder, 0o755)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert f"cannot read '{split_folder}': permission denied" in output
    assert "Traceback" not in output


def test_a_full_disk_is_explained_and_leaves_nothing_half_written(data, tmp_path):
    """The output folder on a 150 MB file system: the first checkpoint (about 260 MB) does not
    fit."""
    disk = tmp_path / "disk"
    disk.mkdir()
    command = [
        sys.executable,
        "-u",
        "solution.py",
        *RUN,
        "--root_folder_path",
        str(data),
        "--output_folder_path",
        str(disk),
    ]
    script = (
        f"mount -t tmpfs -o size=150m tmpfs {disk} && {shlex.join(command)}; echo EXIT=$?; "
        f"echo LEFT; find {disk} -name '*_temp*' -o -name '.*.tmp*'; echo END; "
        f"ls {disk / FOLDER_NAME}"
    )
    result = subprocess.run(
        ["unshare", "--mount", "sh", "-c", script],
        cwd=REPOSITORY,
        env=quiet_environment(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert "EXIT=1" in output, output[-3000:]
    assert "no space left on the device" in output, output[-3000:]
    assert f"into {disk / FOLDER_NAME / 'checkpoints'}" in output
    assert "Traceback" not in output
    left = output[output.index("LEFT") + 4 : output.index("END")].split()
    assert left == []
