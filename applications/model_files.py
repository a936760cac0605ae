"""Weights files and the inference model on disk: loading either kind into a model, writing
them atomically, the description written beside them (export.py: SavedModel and ONNX)."""

import tensorflow_setup  # noqa: F401, I001  (oneDNN and a quiet start, before TensorFlow is imported)

import dataclasses
import json
import os

import keras

from atomic_files import atomic_output, write_atomically

from deployment import SamePersonThresholds, thresholds_of_run_folder

from .descriptions import (
    ModelDescription,
    describe_weights_file,
    field_types_of,
    upgraded,
)
from .h5_weights import load_h5_weights, save_h5_weights
from .model import init_model
from .release_2021 import load_release_2021_weights
from settings import ModelSettings
from .weights_files import (
    INFERENCE,
    RELEASE_2021,
    TRAINING,
    WeightsFileError,
    class_num_of,
    weights_file_kind,
)


def load_weights(model: keras.Model, file_path: str) -> None:
    """Load weights written by save_weights_atomically (or by the Keras 2 versions)."""
    load_h5_weights(model, file_path)


def load_weights_file(
    training_model: keras.Model, inference_model: keras.Model, file_path: str
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
    # The classifiers (and their BNs) of a file trained on another number of identities are
    # left as they are; everything else must fit.
    load_h5_weights(model, file_path, skip_heads=heads_skipped)
    return kind, heads_skipped


def describe_model_file(file_path: str) -> ModelDescription:
    """The architecture a weights file was built with, as far as it says (descriptions.py)."""
    return describe_weights_file(file_path, field_types=field_types_of(ModelSettings))


def save_weights_atomically(model: keras.Model, file_path: str) -> None:
    """Weights to .h5 (h5_weights.py) through a temporary file: an interrupted save never leaves
    half a file."""
    with atomic_output(file_path) as temporary_path:
        save_h5_weights(model, temporary_path)


def save_inference_model(
    inference_model: keras.Model,
    file_path: str,
    *,
    settings: ModelSettings,
    class_num: int,
    more_description: dict | None = None,
) -> None:
    """The inference model's weights (file_path, .h5) and, beside it, what rebuilds it
    (file_path with .json: the ModelSettings fields and class_num, then more_description, e.g.
    the "same person?" thresholds): the architecture comes back from code, so a file is read the
    same way by every version."""
    save_weights_atomically(inference_model, file_path)
    description = {
        **dataclasses.asdict(settings),
        "class_num": class_num,
        **(more_description or {}),
    }
    write_atomically(os.path.splitext(file_path)[0] + ".json", json.dumps(description, indent=2))


def read_inference_model_description(config_path: str) -> tuple[ModelSettings, int]:
    """(settings, class_num) from a .json written by save_inference_model, this version's or
    the earlier one's (input_shape and use_horizontal_flipping instead of the flag names)."""
    with open(config_path) as config_file:
        description = upgraded(json.load(config_file))
    class_num = description.pop("class_num")
    fields = {field.name for field in dataclasses.fields(ModelSettings)}
    return ModelSettings(**{k: v for k, v in description.items() if k in fields}), class_num


def load_inference_model(file_path: str) -> keras.Model:
    """Rebuild an inference model saved by save_inference_model and load its weights."""
    settings, class_num = read_inference_model_description(os.path.splitext(file_path)[0] + ".json")
    _, inference_model = init_model(settings, class_num=class_num, use_pretrained_backbone=False)
    load_weights(inference_model, file_path)
    return inference_model


def model_settings_of_file(model_file_path: str) -> tuple[ModelSettings, int | None]:
    """(settings, class_num) of a weights file, from what the file says of itself: the .json
    beside an inference model, the run's flags.txt beside a training model, or the structure of
    a 2021 release checkpoint (its model zoo's backbone, resnesta50, unless it says otherwise).
    Raises WeightsFileError, saying what to do, when the file or its description is missing."""
    if not os.path.isfile(model_file_path):
        raise WeightsFileError(f"The weights file {model_file_path!r} does not exist.")
    kind = weights_file_kind(model_file_path)
    description = describe_model_file(model_file_path)
    if kind == INFERENCE and description.class_num is None:
        raise WeightsFileError(
            f"{model_file_path!r} is an inference model, but the .json that describes it "
            f"({os.path.splitext(model_file_path)[0] + '.json'!r}) is missing; training writes "
            "the two side by side. Put it back, or pass the run's training_model.h5 (with its "
            "flags.txt) instead."
        )
    if kind == TRAINING and not description.values:
        raise WeightsFileError(
            f"{model_file_path!r} is a training model, and its run's flags.txt, which says "
            f"how the model was built, is missing ({description.source}). Put it back, or pass "
            "the inference_model.h5 (with its .json) that the same run wrote."
        )
    values = dict(description.values)
    if kind == RELEASE_2021:
        values = {"backbone_model_name": "resnesta50", **values}  # the release's model zoo
    return ModelSettings(**values), description.class_num


def inference_model_of_file(model_file_path: str) -> tuple[keras.Model, ModelSettings]:
    """The inference model with a weights file's weights (any kind load_weights_file takes)."""
    settings, class_num = model_settings_of_file(model_file_path)
    training_model, inference_model = init_model(
        settings, class_num=class_num or 1, use_pretrained_backbone=False
    )
    load_weights_file(training_model, inference_model, model_file_path)
    return inference_model, settings


def same_person_thresholds_of_file(model_file_path: str) -> SamePersonThresholds | None:
    """The "same person?" thresholds a weights file comes with: from the .json beside an
    inference model, from the results of a training model's run; None for a 2021 release
    checkpoint or a run evaluated before this version kept them."""
    kind = weights_file_kind(model_file_path)
    if kind == INFERENCE:
        with open(os.path.splitext(model_file_path)[0] + ".json") as description_file:
            return SamePersonThresholds.from_description(json.load(description_file))
    if kind == TRAINING:
        return thresholds_of_run_folder(os.path.dirname(os.path.abspath(model_file_path)))
    return None
