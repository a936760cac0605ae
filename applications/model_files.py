"""Weights files and the inference model on disk: loading either kind into a model, writing
them atomically, the description written beside them, SavedModel export."""

import legacy_keras  # noqa: F401, I001  (Keras 2 must be selected before TensorFlow is imported)

import dataclasses
import json
import os

import tensorflow as tf

from atomic_files import atomic_folder, atomic_output, write_atomically

from .descriptions import ModelDescription, describe_weights_file, field_types_of, upgraded
from .layers import all_blocks_trainable
from .model import init_model
from .release_2021 import load_release_2021_weights
from settings import ModelSettings
from .weights_files import RELEASE_2021, TRAINING, WeightsFileError, class_num_of, weights_file_kind


def load_weights(model: tf.keras.Model, file_path: str) -> None:
    """Load weights written by save_weights_atomically, whatever either model's freezing."""
    with all_blocks_trainable(model):
        model.load_weights(file_path)


def load_weights_file(
    training_model: tf.keras.Model, inference_model: tf.keras.Model, file_path: str
) -> tuple[str, bool]:
    """Load either file training writes: training_model.h5 into the training model,
    inference_model.h5 into the inference model (whose weights the training model shares; its
    heads keep their values); or a checkpoint of the 2021 release (release_2021.py). Returns
    (the kind: weights_files.TRAINING, INFERENCE or RELEASE_2021; whether the file's classifier
    heads were left out because they are for another number of identities).

    Raises WeightsFileError when the file is neither, or does not fit (another backbone or
    --region_num).
    """
    kind = weights_file_kind(file_path)
    class_num = training_model.get_layer("global_classifier").units
    if kind == RELEASE_2021:
        return kind, load_release_2021_weights(training_model, file_path)
    heads_skipped = kind == TRAINING and class_num_of(file_path) != class_num
    model = training_model if kind == TRAINING else inference_model
    try:
        with all_blocks_trainable(model):
            if heads_skipped:  # the rest by layer name; the classifiers' shapes do not fit
                model.load_weights(file_path, by_name=True, skip_mismatch=True)
            else:
                model.load_weights(file_path)
    except Exception as error:  # h5py and Keras raise many kinds for a file that does not fit
        raise WeightsFileError(
            f"Cannot load the {kind} model weights from {file_path!r}: {error}. The file must "
            "come from a model with the same --backbone_model_name and --region_num."
        ) from error
    return kind, heads_skipped


def describe_model_file(file_path: str) -> ModelDescription:
    """The architecture a weights file was built with, as far as it says (descriptions.py)."""
    return describe_weights_file(file_path, field_types=field_types_of(ModelSettings))


def save_weights_atomically(model: tf.keras.Model, file_path: str) -> None:
    """Weights to .h5 through a temporary file: an interrupted save never leaves half a file."""
    with all_blocks_trainable(model), atomic_output(file_path) as temporary_path:
        model.save_weights(temporary_path)


def save_inference_model(
    inference_model: tf.keras.Model, file_path: str, *, settings: ModelSettings, class_num: int
) -> None:
    """The inference model's weights (file_path, .h5) and, beside it, what rebuilds it
    (file_path with .json: the ModelSettings fields and class_num): tf2cv networks do not
    survive Keras' whole-model save and load, so the architecture comes back from code."""
    save_weights_atomically(inference_model, file_path)
    description = {**dataclasses.asdict(settings), "class_num": class_num}
    write_atomically(os.path.splitext(file_path)[0] + ".json", json.dumps(description, indent=2))


def read_inference_model_description(config_path: str) -> tuple[ModelSettings, int]:
    """(settings, class_num) from a .json written by save_inference_model, this version's or
    the earlier one's (input_shape and use_horizontal_flipping instead of the flag names)."""
    with open(config_path) as config_file:
        description = upgraded(json.load(config_file))
    class_num = description.pop("class_num")
    return ModelSettings(**description), class_num


def load_inference_model(file_path: str) -> tf.keras.Model:
    """Rebuild an inference model saved by save_inference_model and load its weights."""
    settings, class_num = read_inference_model_description(os.path.splitext(file_path)[0] + ".json")
    _, inference_model = init_model(settings, class_num=class_num, use_pretrained_backbone=False)
    load_weights(inference_model, file_path)
    return inference_model


def export_saved_model(inference_model: tf.keras.Model, folder_path: str) -> None:
    """A SavedModel whose default signature maps images (batch, H, W, 3), 0..255 float32, to
    {"embeddings": the concatenated embeddings}; load with tf.saved_model.load."""
    height, width, channels = inference_model.input_shape[1:]

    @tf.function(input_signature=[tf.TensorSpec([None, height, width, channels], tf.float32)])
    def serve(images):
        return {"embeddings": tf.concat(inference_model(images, training=False), axis=-1)}

    module = tf.Module()
    module.model = inference_model
    module.serve = serve
    with atomic_folder(folder_path) as temporary_path:
        tf.saved_model.save(module, temporary_path, signatures={"serving_default": serve})
