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
import tensorflow as tf
from conftest import (
    REPOSITORY,
    SHRUNK,
    TINY_SYNTHETIC,
    quiet_environment,
    start_process,
    start_python,
    synthetic_dataset_flags,
)

import applications
from applications import ModelSettings
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


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_training_steps_give_finite_falling_losses(policy):
    tf.keras.mixed_precision.set_global_policy(policy)
    try:
        tf.keras.utils.set_random_seed(0)
        training_model, inference_model = applications.init_model(
            ModelSettings(
                backbone_model_name="resnet18",
                image_height=64,
                image_width=32,
                use_horizontal_flipping_inside_model=True,
            ),
            class_num=4,
            use_pretrained_backbone=False,
        )
        applications.compile_training_model(training_model, learning_rate=1e-3)
    finally:
        tf.keras.mixed_precision.set_global_policy("float32")
    assert training_model.get_layer("region1_conv").compute_dtype == policy.split("_")[1]
    for name in ("global_pooling", "clip", "flip_average", "global_bn", "global_classifier"):
        assert training_model.get_layer(name).compute_dtype == "float32", name
    scaled = isinstance(training_model.optimizer, tf.keras.mixed_precision.LossScaleOptimizer)
    assert scaled == (policy == "mixed_float16")  # loss scaling only where float16 needs it
    labels = np.repeat(np.arange(4), 2)
    one_hot = np.eye(4, dtype=np.float32)[labels]
    targets = [
        labels if name.endswith("_embedding") else one_hot for name in training_model.output_names
    ]
    images = np.random.default_rng(7).uniform(0, 255, (8, 64, 32, 3)).astype(np.float32)
    losses = [
        training_model.train_on_batch(images, targets, return_dict=True)["loss"] for _ in range(4)
    ]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0] - 1, losses
    assert all(output.dtype == tf.float32 for output in inference_model.outputs)


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
        "1",
        "--epoch_num",
        "1",
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
    assert len(list((folder / "checkpoints").glob("*.index"))) == 2
    history = pd.read_csv(folder / "history.csv")
    assert history["epoch"].tolist() == [1, 2] and history["test_mAP"].notna().all()
    # Both workers computed the same: the same losses in their epoch lines (times aside).
    epoch_lines = [
        [
            re.sub(r"\) [0-9.]+ s,", ")", line)
            for line in output.splitlines()
            if line[:6] == "Epoch "
        ]
        for output in outputs
    ]
    assert len(epoch_lines[0]) == 2 and epoch_lines[0] == epoch_lines[1]
