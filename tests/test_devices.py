"""Several devices and machines, and mixed precision, on CPU stand-ins: two logical CPU devices
for two GPUs, two local processes on loopback ports for two machines."""

import json
import os
import re
import socket
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import (
    REPOSITORY,
    SHRUNK,
    TINY_SYNTHETIC,
    assert_identical,
    quiet_environment,
    start_process,
    start_python,
    synthetic_dataset_flags,
)

from datasets import generate_synthetic_dataset


def test_two_devices_give_the_losses_and_triplet_gradients_of_one():
    process = start_python(
        ["tests/two_device_losses.py"], environment=quiet_environment(PYTHONPATH=REPOSITORY)
    )
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-3000:]
    result = json.loads(output.strip().splitlines()[-1])
    assert result["replicas"] == 2
    one, two = result["one_device"], result["two_devices"]
    assert one.keys() == two.keys() and "flipping" in one and "global_embedding_loss" in one
    for name in one:  # triplet, identity and flipping losses, and their sum
        assert two[name] == pytest.approx(one[name], rel=1e-5, abs=1e-6), name
    assert result["triplet_two"] == pytest.approx(result["triplet_one"], rel=1e-5)
    np.testing.assert_allclose(result["gradient_two"], result["gradient_one"], atol=1e-5)
    # Without gathering, each replica would mine its own half: the gradients would differ.
    assert not np.allclose(result["gradient_without_gathering"], result["gradient_one"], atol=1e-5)


@pytest.mark.parametrize("backbone_model_name", ["resnet18", "dinov2_small"])
@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_training_steps_give_finite_falling_losses(policy, backbone_model_name):
    onednn = "0" if policy == "mixed_float16" else "1"  # see tests/mixed_precision_steps.py
    process = start_python(
        ["tests/mixed_precision_steps.py", policy, backbone_model_name],
        environment=quiet_environment(PYTHONPATH=REPOSITORY, TF_ENABLE_ONEDNN_OPTS=onednn),
    )
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-3000:]
    result = json.loads(output.strip().splitlines()[-1])
    dtypes = result["compute_dtypes"]
    assert dtypes.pop("region1_conv") == policy.split("_")[1]
    assert set(dtypes.values()) == {"float32"}, dtypes  # GeM, clip, mean, heads
    assert result["backbone_compute_dtypes"] == [policy.split("_")[1]]  # the trunk's weights
    assert result["loss_scaled"] == (policy == "mixed_float16")  # only where float16 needs it
    losses = result["losses"]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0] - 1, losses
    assert set(result["output_dtypes"]) == {"float32"}


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (all held open until chosen, so none is chosen twice)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("localhost", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def test_two_workers_train_together_and_only_the_chief_writes(tmp_path):
    """Two processes on loopback ports, the same command and output folder; the second sees
    the output folder read-only (a bind mount in a mount namespace of its own), so any write
    of it would fail the run."""
    data = generate_synthetic_dataset(str(tmp_path / "data"), TINY_SYNTHETIC)
    output_root = tmp_path / "output"
    output_root.mkdir()
    command = [
        "-u",
        "solution.py",
        *SHRUNK,
        *synthetic_dataset_flags(),
        "--root_folder_path",
        os.path.dirname(data),
        "--freeze_backbone_for_N_epochs",
        "0",  # one phase: one trace of the training step in each worker
        "--epoch_num",
        "2",
        "--steps_per_epoch",
        "3",
        "--evaluate_testing_every_N_epochs",
        "1",
        "--output_folder_path",
        str(output_root),
    ]
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(2)]}
    read_only = f'mount --bind -o ro {output_root} {output_root} && exec "$0" "$@"'
    processes = []
    for index, prefix in ((0, []), (1, ["unshare", "--mount", "sh", "-c", read_only])):
        task = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        processes.append(
            start_process(
                [*prefix, sys.executable, *command],
                environment=quiet_environment(TF_CONFIG=json.dumps(task)),
            )
        )
    outputs = []
    for process in processes:
        try:
            output, _ = process.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            for other in processes:
                other.kill()
            raise
        outputs.append(output)
    assert [process.returncode for process in processes] == [0, 0], outputs[1][-3000:]
    assert (
        "Devices: 2 replica(s) (MultiWorkerMirroredStrategy, this process: worker 0)" in outputs[0]
    )
    assert "Not the chief: this worker's files go to" in outputs[1]
    folder = output_root / "Synthetic_resnet18"
    for name in ("flags.txt", "history.csv", "training_model.h5", "inference_model.h5"):
        assert (folder / name).is_file(), name
    assert len(list((folder / "checkpoints").glob("*.index"))) == 1  # the last, once finished
    history = pd.read_csv(folder / "history.csv")
    assert history["epoch"].tolist() == [1, 2] and history["test_mAP_fraction"].notna().all()
    # Both workers computed the same: the same losses in their epoch lines (times aside).
    epoch_lines = [
        [
            re.sub(r"\): [0-9.]+ s,", "):", line)
            for line in output.splitlines()
            if line[:6] == "Epoch "
        ]
        for output in outputs
    ]
    assert len(epoch_lines[0]) == 2 and epoch_lines[0] == epoch_lines[1]


@pytest.mark.slow
def test_one_command_twice_gives_the_same_files_to_the_last_bit(tmp_path):
    """Two runs of one command at once, on two logical devices, with the L2 penalties at their
    defaults, the mirror inside the model, the untrained baseline and re-ranking: the same
    history, results, weights and checkpoint files, byte for byte (timing.csv and the
    checkpoints' state file, which hold wall times, aside)."""
    root = tmp_path / "data"
    generate_synthetic_dataset(str(root), TINY_SYNTHETIC)
    command = [
        *SHRUNK,
        *synthetic_dataset_flags(),
        "--root_folder_path",
        str(root),
        "--logical_cpu_device_num",
        "2",
        "--freeze_backbone_for_N_epochs",
        "1",
        "--epoch_num",
        "1",
        "--steps_per_epoch",
        "2",
        "--evaluate_testing_every_N_epochs",
        "1",
        "--evaluate_testing_before_training",
        "--use_re_ranking",
        "--use_horizontal_flipping_inside_model",
        "--use_horizontal_flipping_in_evaluation",
    ]
    processes = [
        start_python(["-u", "solution.py", *command, "--output_folder_path", str(tmp_path / name)])
        for name in ("first", "second")
    ]
    for process in processes:
        output, _ = process.communicate(timeout=900)
        assert process.returncode == 0, output[-3000:]
    first, second = (tmp_path / name / "Synthetic_resnet18" for name in ("first", "second"))
    assert "2 replica(s)" in (first / "log.txt").read_text()
    history = [pd.read_csv(folder / "history.csv") for folder in (first, second)]
    assert history[0]["epoch"].tolist() == [0, 1, 2]  # the baseline, then the two phases
    for column in history[0].columns:
        assert_identical(history[1][column], history[0][column], what=f"history.csv {column}")
    for name in (
        "history.csv",
        "history.pkl",
        "results.csv",
        "results.json",
        "training_model.h5",
        "inference_model.h5",
    ):
        assert (second / name).read_bytes() == (first / name).read_bytes(), name
    # The checkpoint too (its history keeps no wall time); CheckpointManager's state file
    # `checkpoint` names it with the time it was saved, as its bookkeeping needs.
    checkpoint_files = sorted(
        name for name in os.listdir(first / "checkpoints") if name.startswith("ckpt-")
    )
    assert sorted(os.listdir(second / "checkpoints")) == ["checkpoint", *checkpoint_files]
    assert any(name.endswith(".index") for name in checkpoint_files)
    for name in checkpoint_files:
        found, expected = (folder / "checkpoints" / name for folder in (second, first))
        assert found.read_bytes() == expected.read_bytes(), f"checkpoints/{name}"
