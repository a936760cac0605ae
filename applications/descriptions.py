"""What a weights file says about the network it holds, so that evaluating it, searching with it
or training from it needs nothing but the file.

    description = describe_weights_file("output/Synthetic_resnet18/training_model.h5")
    description.values  # {"backbone_model_name": "resnet18", "image_height": 64, ...}

Sources, by the file's kind (told from its content, weights_files.py): an inference model's .json
beside it; a training model's run folder, whose flags.txt holds the flags that built it (and the
file itself the number of training identities); a checkpoint of the 2021 release, its own
structure (number of stripes, GeM or not, identities, and the input size where the file keeps
its model's configuration).
"""

import dataclasses
import json
import os
import re
from dataclasses import dataclass

import h5py

from settings.flag_files import parse_flag_lines

from .weights_files import INFERENCE, RELEASE_2021, TRAINING, class_num_of, weights_file_kind

# The flags that define the network (ModelSettings' fields); a file's description gives them.
ARCHITECTURE_FIELDS = (
    "backbone_model_name",
    "image_height",
    "image_width",
    "region_num",
    "pooling_mode",
    "min_value",
    "max_value",
    "use_horizontal_flipping_inside_model",
    "global_feature",
)


@dataclass(frozen=True)
class ModelDescription:
    values: dict  # the ModelSettings fields the file determines
    class_num: int | None  # the number of training identities (classifier width)
    source: str  # where the values were read, for messages


def describe_weights_file(file_path: str, *, field_types: dict[str, type]) -> ModelDescription:
    """The architecture a weights file was built with, as far as it says.

    field_types: {field name: type} of ModelSettings, to read flags.txt's text values.
    """
    kind = weights_file_kind(file_path)
    folder_path = os.path.dirname(os.path.abspath(file_path))
    if kind == INFERENCE:
        description_path = os.path.splitext(file_path)[0] + ".json"
        if not os.path.isfile(description_path):
            return ModelDescription({}, None, f"nothing (its {description_path} is missing)")
        with open(description_path) as description_file:
            values = upgraded(json.load(description_file))
        class_num = values.pop("class_num", None)
        values = {name: values[name] for name in ARCHITECTURE_FIELDS if name in values}
        return ModelDescription(values, class_num, description_path)
    if kind == TRAINING:
        flags_path = os.path.join(folder_path, "flags.txt")
        class_num = class_num_of(file_path)
        if not os.path.isfile(flags_path):
            return ModelDescription({}, class_num, f"nothing (its run's {flags_path} is missing)")
        with open(flags_path) as flags_file:
            texts = parse_flag_lines(flags_file.read())
        values = {
            name: convert(texts[name], field_types[name])
            for name in ARCHITECTURE_FIELDS
            if name in texts
        }
        return ModelDescription(values, class_num, flags_path)
    assert kind == RELEASE_2021
    return describe_release_2021_file(file_path)


def upgraded(description: dict) -> dict:
    """An inference model's .json of this version, from the earlier format as well
    (input_shape and use_horizontal_flipping instead of the flag names)."""
    description = dict(description)
    if "input_shape" in description:
        description["image_height"], description["image_width"], _ = description.pop("input_shape")
    if "use_horizontal_flipping" in description:
        description["use_horizontal_flipping_inside_model"] = description.pop(
            "use_horizontal_flipping"
        )
    return description


def convert(text: str, field_type: type):
    if field_type is bool:
        return text.lower() == "true"
    return field_type(text)


def describe_release_2021_file(file_path: str) -> ModelDescription:
    """From a 2021 release checkpoint: its stripes (one convolution each), GeM (its pooling
    layers have powers), the identities (its classifiers' width) and, where the file keeps its
    Keras model configuration, the input size."""
    with h5py.File(file_path, "r") as weights_file:
        weights = weights_file["model_weights"]
        names = [decode(name) for name in weights["inference_model"].attrs["weight_names"]]
        classification = [
            decode(name) for name in weights["classification_model"].attrs["weight_names"]
        ]
        dense = [name for name in classification if "dense" in name.split("/")[0]]
        class_num = int(weights["classification_model"][dense[0]].shape[-1]) if dense else None
        config = weights_file.attrs.get("model_config")
    # The stripes' convolutions are the release's only top-level Conv2D layers (conv2d,
    # conv2d_1, ...); the backbone's sit inside its blocks.
    layer_names = {name.rsplit("/", 1)[0] for name in names if "/" in name}
    values = {"region_num": sum(bool(re.fullmatch(r"conv2d(_\d+)?", name)) for name in layer_names)}
    if any(name.rsplit("/", 1)[-1].startswith("power") for name in names):
        values["pooling_mode"] = "GeM"
    input_shape = input_shape_of(config)
    if input_shape:
        values["image_height"], values["image_width"] = input_shape
    return ModelDescription(values, class_num, f"the structure of {file_path}")


def input_shape_of(config) -> tuple[int, int] | None:
    """(height, width) of a Keras model configuration's input layer, if it has one."""
    if config is None:
        return None
    try:
        model = json.loads(decode(config))
        for layer in model["config"]["layers"]:
            if layer["class_name"] == "InputLayer":
                shape = layer["config"].get("batch_input_shape") or layer["config"]["batch_shape"]
                return int(shape[1]), int(shape[2])
    except (ValueError, KeyError, TypeError, IndexError):
        return None
    return None


def decode(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def field_types_of(settings_class) -> dict[str, type]:
    """{field name: type} of a settings dataclass (for describe_weights_file)."""
    return {field.name: type(field.default) for field in dataclasses.fields(settings_class)}
