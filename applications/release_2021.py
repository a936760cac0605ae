"""Checkpoints of the 2021 release (nixingyang/FlipReID), such as its model-zoo files, loaded into
this project's network.

The release saves whole-model Keras HDF5 files of its training model, which nests two functional
models: "inference_model" (the trunk's blocks wrapped one model each, the last stage copied into
"<stage>_global_branch" and "<stage>_regional_branch", GeM pooling layers, one 3x3 convolution per
stripe) and "classification_model" (per embedding: BatchNormalization, Dense, softmax). Its
weights sit under the file's model_weights group, one subgroup per top-level layer; a nested
model's subgroup lists all its trainable weights, layer after layer, then its non-trainable ones.

Every weight is placed by its name: the branch prefixes the release gives the two copies of the
last stage ("global_branch/...", "regional_branch/..."), tf2cv's block, stage and unit names
(tf2cv's "unit1" or the release's own "unit_0_1") and the layer path inside the unit, which
this project's blocks keep (load_backbones.weight_key), and the numbered names Keras gave the
release's GeM, convolution, normalization and dense layers. Nothing depends on the order in
which either side lists a block's weights, which differs: this project's functional blocks
list a unit's identity projection before the last normalization of its body, tf2cv after.
"""

import re

import h5py
import keras
import numpy as np

from load_backbones import weight_key

from .h5_weights import model_weights
from .layers import GeneralizedMeanPooling
from .model import backbone_blocks
from .weights_files import WeightsFileError

BRANCH_PREFIXES = {"global_branch": "global_stage", "regional_branch": "regional_stage"}
# A residual unit: tf2cv's "unit2" (stage from the enclosing "stage1"), the release's "unit_0_2".
UNIT_NAME = re.compile(r"unit(\d+)|unit_(\d+)_(\d+)")


def decode(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_layer_weights(weights_file: h5py.File, layer_name: str) -> list[tuple[str, np.ndarray]]:
    group = weights_file["model_weights"][layer_name]
    return [(decode(name), np.asarray(group[decode(name)])) for name in group.attrs["weight_names"]]


def layer_number(layer_name: str) -> int:
    """Keras numbers repeated automatic names: conv2d, conv2d_1, conv2d_2, ..."""
    found = re.search(r"_(\d+)$", layer_name)
    return int(found[1]) if found else 0


def block_and_key(weight_name: str, stage_num: int) -> tuple[str, str] | None:
    """(this project's block, the weight's key there, as load_backbones.block_weights keys it)
    of an inference-model weight, from its name; None for a weight of no backbone block.

    "global_branch/stage4/stage4/unit_3_1/body/conv1/conv/conv/kernel:0" -> ("global_stage",
    "stage4/unit1/body/conv1/conv/kernel"); "features/features/stage1/stage1/unit1/..." ->
    ("stage1", "stage1/unit1/..."); ".../init_block/conv/conv/conv/kernel:0" -> ("stem",
    "init_block/conv/kernel").
    """
    elements = weight_name.split(":")[0].split("/")
    branch_block = BRANCH_PREFIXES.get(elements[0])
    stage_number = None
    for index, element in enumerate(elements):
        if element == "init_block" and branch_block is None:
            return "stem", weight_key(elements[index:])
        stage = re.fullmatch(r"stage(\d+)", element)
        if stage:
            stage_number = int(stage[1])
        unit = UNIT_NAME.fullmatch(element)
        if unit is None:
            continue
        if unit[2] is not None:
            stage_number = int(unit[2]) + 1  # the release counts its stages from 0
        if stage_number is None:
            return None
        path = [
            f"unit{unit_number(part)}" if UNIT_NAME.fullmatch(part) else part
            for part in elements[index:]
        ]
        key = weight_key([f"stage{stage_number}", *path])
        if branch_block is not None:
            return branch_block, key
        return (f"stage{stage_number}", key) if stage_number < stage_num else None
    return None


def unit_number(unit_name: str) -> int:
    found = UNIT_NAME.fullmatch(unit_name)
    return int(found[1] if found[1] is not None else found[3])


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
    sources: dict[str, dict[str, tuple[str, np.ndarray]]] = {block.name: {} for block in blocks}
    by_layer: dict[str, dict[str, list]] = {"power": {}, "conv": {}, "bn": {}, "dense": {}}
    for name, value in inference_weights:
        layer_name, _, short_name = name.rpartition("/")
        placed = block_and_key(name, stage_num)
        if placed is not None:
            block_name, key = placed
            if key in sources[block_name]:
                raise unplaced(
                    name, value, f"{sources[block_name][key][0]} has the same place ({key})"
                )
            sources[block_name][key] = (name, value)
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
    weights_by_layer = model_weights(training_model)
    for block in blocks:
        assignments += pair_by_key(
            sources[block.name], weights_by_layer[block.name], where=block.name
        )
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
    project's layers in the same order (global head first, then the stripes top to bottom);
    within a layer, weights by their names (kernel, gamma, moving_mean, power, ...)."""
    names = sorted(source_layers, key=layer_number)
    if len(names) != len(target_layers):
        raise WeightsFileError(
            f"The checkpoint has {len(names)} layers of its {where} ({', '.join(names)}), this "
            f"model {len(target_layers)}: check --region_num and --pooling_mode."
        )
    assignments = []
    for name, layer in zip(names, target_layers, strict=True):
        weights = {
            short_name_of(weight_name): (weight_name, value)
            for weight_name, value in source_layers[name]
        }
        targets = {variable.name: variable for variable in layer.weights}
        assignments += pair_by_key(weights, targets, where=f"{where} ({layer.name})")
    return assignments


def short_name_of(weight_name: str) -> str:
    return weight_name.rpartition("/")[2].split(":")[0]


def pair_by_key(sources: dict[str, tuple], targets: dict[str, keras.Variable], *, where: str):
    """[(variable, value)] for every target, its source under the same key; the first source
    without a place, or target without a source, or of another shape is a WeightsFileError."""
    for key, (name, value) in sources.items():
        if key not in targets:
            raise unplaced(name, value, f"this model's {where} has no weight {key}")
        if tuple(value.shape) != tuple(targets[key].shape):
            raise unplaced(
                name, value, f"this model's {where} expects {tuple(targets[key].shape)} there"
            )
    missing = [key for key in targets if key not in sources]
    if missing:
        raise WeightsFileError(
            f"The checkpoint has no weight for {missing[0]} of this model's {where} "
            f"({len(missing)} of its {len(targets)} weights are missing). Check "
            "--backbone_model_name, --region_num and --pooling_mode."
        )
    return [(variable, sources[key][1]) for key, variable in targets.items()]


def unplaced(name: str, value: np.ndarray, reason: str) -> WeightsFileError:
    return WeightsFileError(
        f"Cannot place the checkpoint's weight {name} {tuple(value.shape)}: {reason}. The file "
        "does not fit this model: check --backbone_model_name, --region_num, --pooling_mode and "
        "the dataset (the number of training identities)."
    )
