"""Checkpoints of the 2021 release (nixingyang/FlipReID), such as its model-zoo files, loaded into
this project's network.

The release saves whole-model Keras HDF5 files of its training model, which nests two functional
models: "inference_model" (the trunk's blocks wrapped one model each, the last stage copied into
"<stage>_global_branch" and "<stage>_regional_branch", GeM pooling layers, one 3x3 convolution per
stripe) and "classification_model" (per embedding: BatchNormalization, Dense, softmax). Its
weights sit under the file's model_weights group, one subgroup per top-level layer; a nested
model's subgroup lists all its trainable weights, layer after layer, then its non-trainable ones.

Weights are placed by name where the names say where they belong (the branch prefixes the
release gives the two copies of the last stage, tf2cv's block and stage names, the numbered
names Keras gave the release's GeM, convolution, normalization and dense layers), and by
position and shape within a block, where the order of a block's weights is that of this
project's block.
"""

import re

import h5py
import keras
import numpy as np

from .h5_weights import model_weights
from .layers import GeneralizedMeanPooling
from .model import backbone_blocks
from .weights_files import WeightsFileError

BRANCH_PREFIXES = {"global_branch/": "global_stage", "regional_branch/": "regional_stage"}


def decode(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_layer_weights(weights_file: h5py.File, layer_name: str) -> list[tuple[str, np.ndarray]]:
    group = weights_file["model_weights"][layer_name]
    return [(decode(name), np.asarray(group[decode(name)])) for name in group.attrs["weight_names"]]


def layer_number(layer_name: str) -> int:
    """Keras numbers repeated automatic names: conv2d, conv2d_1, conv2d_2, ..."""
    found = re.search(r"_(\d+)$", layer_name)
    return int(found[1]) if found else 0


def block_of(weight_name: str, stage_num: int) -> str | None:
    """Which of this project's blocks an inference-model weight belongs to, from its name."""
    for prefix, block_name in BRANCH_PREFIXES.items():
        if weight_name.startswith(prefix):
            return block_name
    for segment in weight_name.split("/"):
        if segment == "init_block":
            return "stem"
        stage = re.fullmatch(r"stage(\d+)", segment)
        if stage and int(stage[1]) < stage_num:
            return f"stage{stage[1]}"
        unit = re.fullmatch(r"unit_(\d+)_\d+", segment)  # the release's own unit names
        if unit and int(unit[1]) + 1 < stage_num:
            return f"stage{int(unit[1]) + 1}"
    return None


def load_release_2021_weights(training_model: keras.Model, file_path: str) -> bool:
    """Place every weight of a 2021-release checkpoint in the training model; the classifiers
    (and their normalization) are left out when they are for another number of identities.
    Returns whether they were.

    Raises WeightsFileError, naming the first weight that could not be placed, when the file
    does not fit the model (another backbone, --region_num).
    """
    with h5py.File(file_path, "r") as weights_file:
        inference_weights = read_layer_weights(weights_file, "inference_model")
        classification_weights = read_layer_weights(weights_file, "classification_model")
    blocks = backbone_blocks(training_model)
    stage_num = len(blocks) - 2  # stem, stage1 .. stage(n-1), global and regional last stage
    sources: dict[str, list] = {block.name: [] for block in blocks}
    by_layer: dict[str, dict[str, list]] = {"power": {}, "conv": {}, "bn": {}, "dense": {}}
    for name, value in inference_weights:
        layer_name, _, short_name = name.rpartition("/")
        block_name = block_of(name, stage_num)
        if block_name is not None:
            sources[block_name].append((name, value))
        elif short_name.startswith("power"):
            by_layer["power"].setdefault(layer_name, []).append((name, value))
        elif re.fullmatch(r"conv2d(_\d+)?", layer_name.split("/")[-1]):
            by_layer["conv"].setdefault(layer_name, []).append((name, value))
        else:
            raise unplaced(name, value, "it belongs to no block of this project's network")
    for name, value in classification_weights:
        layer_name = name.rpartition("/")[0]
        kind = "bn" if "batch_normalization" in layer_name else "dense"
        by_layer[kind].setdefault(layer_name, []).append((name, value))

    assignments = []
    weights_by_layer = model_weights(training_model)  # a block's trainable weights first
    for block in blocks:
        targets = list(weights_by_layer[block.name].values())
        assignments += pair_by_position(sources[block.name], targets, where=block.name)
    head_names = [
        name.removesuffix("_embedding") for name in embedding_output_names(training_model)
    ]
    poolings = [
        training_model.get_layer(f"{head}_pooling")
        for head in head_names
        if isinstance(training_model.get_layer(f"{head}_pooling"), GeneralizedMeanPooling)
    ]
    assignments += pair_layers(by_layer["power"], poolings, where="GeM pooling")
    convolutions = [training_model.get_layer(f"{head}_conv") for head in head_names[1:]]
    assignments += pair_layers(by_layer["conv"], convolutions, where="regional convolutions")
    classifiers = [training_model.get_layer(f"{head}_classifier") for head in head_names]
    class_nums = {value.shape[-1] for weights in by_layer["dense"].values() for _, value in weights}
    heads_skipped = class_nums != {classifiers[0].units}
    if not heads_skipped:
        normalizations = [training_model.get_layer(f"{head}_bn") for head in head_names]
        assignments += pair_layers(by_layer["bn"], normalizations, where="head normalization")
        assignments += pair_layers(by_layer["dense"], classifiers, where="classifiers")
    for variable, value in assignments:
        variable.assign(value)
    return heads_skipped


def embedding_output_names(training_model: keras.Model) -> list[str]:
    return [name for name in training_model.output_names if name.endswith("_embedding")]


def pair_layers(source_layers: dict[str, list], target_layers: list, *, where: str) -> list:
    """The release's numbered layers (conv2d, conv2d_1, ...) in creation order, against this
    project's layers in the same order (global head first, then the stripes top to bottom)."""
    names = sorted(source_layers, key=layer_number)
    if len(names) != len(target_layers):
        raise WeightsFileError(
            f"The checkpoint has {len(names)} layers of its {where} ({', '.join(names)}), this "
            f"model {len(target_layers)}: check --region_num and --pooling_mode."
        )
    assignments = []
    for name, layer in zip(names, target_layers, strict=True):
        weights = source_layers[name]
        targets = layer.weights
        order = {"gamma": 0, "beta": 1, "moving_mean": 2, "moving_variance": 3}
        weights = sorted(weights, key=lambda item: order.get(short_name_of(item[0]), 0))
        assignments += pair_by_position(weights, targets, where=f"{where} ({layer.name})")
    return assignments


def short_name_of(weight_name: str) -> str:
    return weight_name.rpartition("/")[2].split(":")[0]


def pair_by_position(sources: list, targets: list, *, where: str) -> list:
    if len(sources) != len(targets):
        first = sources[len(targets)] if len(sources) > len(targets) else None
        raise WeightsFileError(
            f"The checkpoint has {len(sources)} weights for {where}, this model {len(targets)}"
            + (f"; the first it cannot place is {first[0]} {first[1].shape}" if first else "")
            + ". Check --backbone_model_name, --region_num and --pooling_mode."
        )
    for (name, value), target in zip(sources, targets, strict=True):
        if tuple(value.shape) != tuple(target.shape):
            raise unplaced(name, value, f"{where} expects {tuple(target.shape)} there")
    return [(target, value) for (_, value), target in zip(sources, targets, strict=True)]


def unplaced(name: str, value: np.ndarray, reason: str) -> WeightsFileError:
    return WeightsFileError(
        f"Cannot place the checkpoint's weight {name} {tuple(value.shape)}: {reason}. The file "
        "does not fit this model: check --backbone_model_name, --region_num, --pooling_mode and "
        "the dataset (the number of training identities)."
    )
