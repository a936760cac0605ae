"""The program's backbones (load_backbones: build_backbone_blocks, load_tf2cv_weights, Keras 3)
compute what the Keras 2 reference's trunk computes: tf2cv's network with the last stage at
stride 1 (keras2_reference.load_backbone, the Keras 2 versions' code as of commit c4699ff), for
all nine names.

The reference is tf2cv's own model code under Keras 2, given random weights (every BatchNorm
statistic too) and saved with Keras 2's save_weights, the format of tf2cv's ImageNet files; the
program's blocks read that file by name. Compared block by block: inference outputs,
training-mode outputs, the moving statistics after a training-mode call, and (up to 50 layers)
the gradients of a random projection of the last output with respect to every weight and to the
images.

In this process TensorFlow runs oneDNN's kernels (tensorflow_setup.py); the comparison is exact
(np.array_equal) there, and in a child process with Eigen's (TF_ENABLE_ONEDNN_OPTS=0).
"""

import keras2_reference  # noqa: I001  (tf.keras is Keras 2 from here on, for tf2cv's code)

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from conftest import REPOSITORY, quiet_environment
from tf2cv.model_provider import get_model

from load_backbones import (
    BACKBONE_NAMES,
    BackboneError,
    build_backbone_blocks,
    load_tf2cv_weights,
    weight_key,
)

IMAGE_SIZE = (64, 32)


def randomised_tf2cv_weights_file(backbone_model_name: str, file_path: str) -> None:
    """tf2cv's network with every weight drawn at random (BatchNorm's statistics and scales
    around 1), written as tf2cv writes its ImageNet weights."""
    network = get_model(backbone_model_name, pretrained=False, data_format="channels_last")
    network.build((None, 224, 224, 3))
    rng = np.random.default_rng(0)
    values = []
    for weight in network.weights:
        shape = tuple(weight.shape)
        if weight.name.endswith(("moving_variance:0", "gamma:0")):
            value = rng.uniform(0.5, 1.5, shape)
        elif weight.name.endswith("kernel:0"):
            value = rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[:-1])), shape)
        else:
            value = rng.normal(0.0, 0.1, shape)
        values.append(value.astype(np.float32))
    network.set_weights(values)
    network.save_weights(file_path)


def weights_by_key(blocks, *, keras2: bool, trainable: bool) -> dict:
    """{"1:stage1/unit1/body/conv1/conv/kernel": variable, ...} of the trainable or the
    non-trainable weights: one naming for the program's blocks and the Keras 2 reference's."""
    weights = {}
    for index, block in enumerate(blocks):
        for weight in block.trainable_weights if trainable else block.non_trainable_weights:
            if keras2:  # e.g. "stage1/unit1/body/conv1/conv/conv/kernel:0" (tf2cv's paths)
                elements = weight.name.removesuffix(":0").split("/")
                elements = elements[elements.index(block.name.split("/")[-1]) :]
            else:
                layer_name = weight.path.rsplit("/", 1)[0]
                elements = [block.name, *layer_name.split("."), weight.name]
            weights[f"{index}:{weight_key(elements)}"] = weight
    return weights


def compare_backbones(
    backbone_model_name: str, folder: str, *, gradients: bool = True
) -> list[str]:
    """The differences found, as readable lines (none: the two compute the same bits)."""
    weights_file_path = os.path.join(folder, f"{backbone_model_name}_random.h5")
    randomised_tf2cv_weights_file(backbone_model_name, weights_file_path)
    preprocessing, *old_blocks = keras2_reference.load_backbone(
        backbone_model_name, pretrained_backbone_weights_file_path=weights_file_path
    )
    new_blocks = build_backbone_blocks(backbone_model_name, image_size=IMAGE_SIZE)
    load_tf2cv_weights(new_blocks, weights_file_path, backbone_model_name=backbone_model_name)
    rng = np.random.default_rng(1)
    images = preprocessing(rng.uniform(0, 255, (2, *IMAGE_SIZE, 3)).astype(np.float32))
    differences = []

    def check(what, expected, found):
        expected, found = np.asarray(expected), np.asarray(found)
        if expected.shape != found.shape:
            differences.append(f"{what}: shape {found.shape}, expected {expected.shape}")
        elif not np.array_equal(expected, found):
            index = np.unravel_index(np.argmax(np.abs(expected - found)), expected.shape)
            differences.append(
                f"{what}: largest difference at {index}: {found[index]!r}, expected "
                f"{expected[index]!r} (max |expected| {np.abs(expected).max():.3g})"
            )

    for training in (False, True):
        old, new = images, images
        for old_block, new_block in zip(old_blocks, new_blocks, strict=True):
            old, new = old_block(old, training=training), new_block(new, training=training)
            check(f"{new_block.name} output, training={training}", old, new)
    old_statistics = weights_by_key(old_blocks, keras2=True, trainable=False)
    new_statistics = weights_by_key(new_blocks, keras2=False, trainable=False)
    if sorted(old_statistics) != sorted(new_statistics):
        differences.append(
            f"moving statistics differ: {sorted(set(old_statistics) ^ set(new_statistics))[:5]}"
        )
    for key, statistic in old_statistics.items():
        if key in new_statistics:
            check(f"{key} after a training-mode call", statistic, new_statistics[key])

    if not gradients:
        return differences
    projection = rng.normal(size=old.shape).astype(np.float32)
    old_weights = weights_by_key(old_blocks, keras2=True, trainable=True)
    new_weights = weights_by_key(new_blocks, keras2=False, trainable=True)
    if sorted(old_weights) != sorted(new_weights):
        differences.append(
            f"trainable weights differ: {sorted(set(old_weights) ^ set(new_weights))[:5]}"
        )
        return differences
    found_gradients = {}
    for name, blocks, weights in (
        ("old", old_blocks, old_weights),
        ("new", new_blocks, new_weights),
    ):
        image_tensor = tf.constant(images)
        with tf.GradientTape() as tape:
            tape.watch(image_tensor)
            output = image_tensor
            for block in blocks:
                output = block(output, training=True)
            loss = tf.reduce_sum(output * projection)
        keys = sorted(weights)
        values = tape.gradient(loss, [image_tensor, *[weights[key] for key in keys]])
        found_gradients[name] = dict(zip(["images", *keys], values, strict=True))
    for key, expected in found_gradients["old"].items():
        check(f"gradient of {key}", expected, found_gradients["new"][key])
    return differences


# The deeper variants repeat the units of their 50-layer siblings: their outputs and statistics
# are compared, their gradients (the costliest part, eagerly) only at 50 layers.
GRADIENTS_COMPARED = ("resnet18", "resnet34", "resnet50", "ibn_resnet50", "resnesta50")


@pytest.mark.slow
@pytest.mark.parametrize("backbone_model_name", BACKBONE_NAMES)
def test_the_backbone_computes_the_keras2_references_trunk_on_onednn(backbone_model_name, tmp_path):
    differences = compare_backbones(
        backbone_model_name, str(tmp_path), gradients=backbone_model_name in GRADIENTS_COMPARED
    )
    assert not differences, "\n".join(differences)


@pytest.mark.slow
def test_the_backbones_compute_the_keras2_references_trunk_on_eigen(tmp_path):
    """The three 2021 backbones again with Eigen's kernels (oneDNN off), in a child process."""
    code = (
        "import sys; sys.path[:0] = ['.', 'tests']\n"
        "import keras2_reference\n"
        "from test_keras3_backbones import compare_backbones\n"
        "for name in ('resnet18', 'ibn_resnet50', 'resnesta50'):\n"
        f"    differences = compare_backbones(name, {str(tmp_path)!r})\n"
        "    print(name, 'differences:', len(differences))\n"
        "    print('\\n'.join(differences))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPOSITORY,
        env=quiet_environment(TF_ENABLE_ONEDNN_OPTS="0"),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("resnet18", "ibn_resnet50", "resnesta50"):
        assert f"{name} differences: 0" in result.stdout, result.stdout[-3000:]


def test_a_weights_file_of_another_backbone_is_refused_with_a_message(tmp_path):
    weights_file_path = str(tmp_path / "resnet18_random.h5")
    randomised_tf2cv_weights_file("resnet18", weights_file_path)
    blocks = build_backbone_blocks("resnet34", image_size=IMAGE_SIZE)
    with pytest.raises(BackboneError, match="does not fit resnet34: .* weights missing"):
        load_tf2cv_weights(blocks, weights_file_path, backbone_model_name="resnet34")
