"""Files and runs of the Keras 2 versions of this program (before the move to Keras 3, issue 38),
made here with those versions' code (tests/keras2_reference) as they made them: their weights
files give the same features in this version, and an unfinished run of theirs is refused with
what to do (docs/runs.md, "Runs started before Keras 3")."""

import keras2_reference  # noqa: I001  (first: tf.keras is Keras 2 in the reference)

import dataclasses
import json
import os

import numpy as np
import pytest
import tf_keras
from conftest import SHRUNK, TINY_SYNTHETIC, assert_one_error, run_solution
from conftest import synthetic_dataset_flags
from keras2_reference.layers import all_blocks_trainable

import applications
from applications.features import embed_images
from callbacks import Progress, RunState
from datasets import generate_synthetic_dataset
from settings import ModelSettings


def perturbed(model, seed: int) -> None:
    """Every weight moved off its initial value (BN statistics included, variances kept
    positive), so that nothing that loads wrongly can still look right."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        value = weight.numpy()
        value = value * rng.uniform(0.8, 1.25, value.shape)
        if "variance" not in weight.name:
            value = value + 0.01 * rng.standard_normal(value.shape)
        weight.assign(value.astype(np.float32))


@pytest.mark.parametrize("backbone", ["resnet18", "ibn_resnet50", "resnesta50"])
def test_keras2_inference_files_give_the_same_features(backbone, tmp_path):
    """An inference_model.h5 (with its .json) written as the Keras 2 versions wrote it, read by
    applications.inference_model_of_file (what --evaluation_only, search.py and export.py
    use): flip-averaged features within 1e-5 of the largest, against the Keras 2 network's."""
    settings = ModelSettings(
        backbone_model_name=backbone,
        image_height=64,
        image_width=32,
        use_horizontal_flipping_inside_model=True,
    )
    tf_keras.utils.set_random_seed(0)
    _, old_inference = keras2_reference.init_model(
        settings, class_num=5, use_pretrained_backbone=False
    )
    perturbed(old_inference, seed=1)
    file_path = str(tmp_path / "inference_model.h5")
    with all_blocks_trainable(old_inference):  # the Keras 2 versions' save_weights_atomically
        old_inference.save_weights(file_path)
    with open(tmp_path / "inference_model.json", "w") as description_file:
        json.dump({**dataclasses.asdict(settings), "class_num": 5}, description_file)

    images = np.random.default_rng(2).uniform(0, 255, (4, 64, 32, 3)).astype(np.float32)

    def concatenated(outputs):
        return np.concatenate([output.numpy() for output in outputs], axis=-1)

    expected = (
        concatenated(old_inference(images, training=False))
        + concatenated(old_inference(images[:, :, ::-1], training=False))
    ) / 2
    inference_model, found_settings = applications.inference_model_of_file(file_path)
    assert found_settings == settings
    found = embed_images(inference_model, images, flip_averaged=True)
    largest_difference = np.abs(np.asarray(found) - expected).max()
    assert largest_difference <= 1e-5 * np.abs(expected).max(), largest_difference


def test_an_unfinished_keras2_run_is_refused_with_what_to_do(tmp_path):
    """A run folder whose checkpoint the Keras 2 versions wrote (RunState.save of their network,
    as they saved it after an epoch): the same command stops with one message that names the
    Keras 2 checkpoints and the ways on, and nothing in the folder changes."""
    root = tmp_path / "data"
    generate_synthetic_dataset(str(root), TINY_SYNTHETIC)
    run_folder = tmp_path / "output" / "Synthetic_resnet18"
    settings = ModelSettings(backbone_model_name="resnet18", image_height=64, image_width=32)
    training_model, _ = keras2_reference.init_model(
        settings,
        class_num=TINY_SYNTHETIC.synthetic_train_identity_num,
        use_pretrained_backbone=False,
    )
    keras2_reference.compile_training_model(
        training_model, optimizer=keras2_reference.make_optimizer(training_model)
    )
    RunState(str(run_folder)).save(training_model, Progress(epoch=1), steps_per_epoch=3)
    before = sorted(os.listdir(run_folder / "checkpoints"))
    arguments = [
        *SHRUNK,
        *synthetic_dataset_flags(),
        "--root_folder_path",
        str(root),
        "--output_folder_path",
        str(tmp_path / "output"),
        "--steps_per_epoch",
        "3",
        "--epoch_num",
        "2",
    ]
    assert_one_error(
        run_solution(arguments),
        [
            "before its move to Keras 3",
            "--evaluation_only",
            "--overwrite_output_folder",
            "Nothing was changed",
        ],
    )
    assert sorted(os.listdir(run_folder / "checkpoints")) == before
