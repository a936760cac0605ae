"""Weights files in Keras 2's HDF5 layout (what `save_weights` wrote to a .h5 file), read and
written by name with h5py: training_model.h5 and inference_model.h5 of this version, and those
that the Keras 2 versions of this program wrote, which load the same way.

The file has one group per layer of the model, in the model's order, listed in the root's
"layer_names" attribute; each group lists its weights in "weight_names" (trainable ones first)
and holds one dataset per weight under that name. The backbone's blocks ("stem", "stage1", ...,
"global_stage", "regional_stage") name their weights by tf2cv's layer paths, which the Keras 2
versions wrote with repeated elements ("features/features/stage1/stage1/unit1/body/conv1/conv/
conv/kernel:0") and this version writes as their key ("stage1/unit1/body/conv1/conv/kernel:0",
load_backbones.weight_key); a keras-hub backbone's blocks ("trunk", "global_last_block",
"regional_last_block") by their variables' paths ("trunk/transformer_layer3/mlp/fc1/kernel:0",
load_backbones.keras_hub_block_weights); the other layers name theirs "<layer>/<variable>:0".
Keras 2 split a name list longer than HDF5's 64 kB limit on an attribute into "weight_names0",
"weight_names1", ...; both sides here do the same.
"""

import h5py
import keras
import numpy as np

from load_backbones import KERAS_HUB_BLOCK_NAMES, block_weights, keras_hub_block_weights, weight_key
from load_backbones.imagenet_h5 import string_list_attribute

from .model import all_blocks_trainable
from .weights_files import WeightsFileError

TF2CV_NAME_OF_BLOCK = {
    "stem": "init_block",
    "stage1": "stage1",
    "stage2": "stage2",
    "stage3": "stage3",
    "global_stage": "stage4",
    "regional_stage": "stage4",
}
ATTRIBUTE_LIMIT = 64512  # bytes: HDF5's limit on an attribute (64 kB) less its header, as Keras 2


def read_h5_weights(file_path: str) -> dict[tuple[str, str], np.ndarray]:
    """{(layer name, weight key): array} of a weights file of this project (either version)."""
    arrays = {}
    with h5py.File(file_path, "r") as weights_file:
        root = weights_file["model_weights"] if "model_weights" in weights_file else weights_file
        for layer_name in string_list_attribute(root, "layer_names"):
            group = root[layer_name]
            for weight_name in string_list_attribute(group, "weight_names"):
                elements = weight_name.removesuffix(":0").split("/")
                if layer_name in TF2CV_NAME_OF_BLOCK:
                    key = weight_key(elements)
                elif layer_name in KERAS_HUB_BLOCK_NAMES:
                    key = "/".join(elements[1:])
                else:
                    key = elements[-1]
                arrays[layer_name, key] = np.asarray(group[weight_name])
    return arrays


def model_weights(model: keras.Model) -> dict[str, dict[str, keras.Variable]]:
    """{layer name: {weight key: variable}} of a FlipReID model, in the model's layer order and
    each layer's trainable weights first (frozen or not), keyed as read_h5_weights keys a file."""
    weights = {}
    with all_blocks_trainable(model):
        for layer in model.layers:
            if layer.name in TF2CV_NAME_OF_BLOCK:
                variables = block_weights(layer, TF2CV_NAME_OF_BLOCK[layer.name])
            elif layer.name in KERAS_HUB_BLOCK_NAMES:
                variables = keras_hub_block_weights(layer)
            else:
                variables = {variable.name: variable for variable in layer.weights}
            ordered = sorted(variables.items(), key=lambda item: not item[1].trainable)
            weights[layer.name] = dict(ordered)
    return weights


def save_h5_weights(model: keras.Model, file_path: str) -> None:
    """Write every weight of `model` into a new file at file_path (see the module docstring)."""
    with h5py.File(file_path, "w") as weights_file:
        layers = model_weights(model)
        set_string_list_attribute(weights_file, "layer_names", list(layers))
        weights_file.attrs["backend"] = keras.backend.backend().encode()
        weights_file.attrs["keras_version"] = keras.__version__.encode()
        for layer_name, variables in layers.items():
            group = weights_file.create_group(layer_name)
            names = [
                f"{key if layer_name in TF2CV_NAME_OF_BLOCK else f'{layer_name}/{key}'}:0"
                for key in variables
            ]
            set_string_list_attribute(group, "weight_names", names)
            for name, variable in zip(names, variables.values(), strict=True):
                group.create_dataset(name, data=keras.ops.convert_to_numpy(variable))


def set_string_list_attribute(group: h5py.Group, name: str, values: list[str]) -> None:
    """Store a list of names as Keras 2 did, in chunks name0, name1, ... past ATTRIBUTE_LIMIT."""
    encoded = np.array([value.encode() for value in values])
    if encoded.nbytes <= ATTRIBUTE_LIMIT:
        group.attrs[name] = encoded
        return
    chunk_num = int(np.ceil(encoded.nbytes / ATTRIBUTE_LIMIT))
    while any(chunk.nbytes > ATTRIBUTE_LIMIT for chunk in np.array_split(encoded, chunk_num)):
        chunk_num += 1
    for index, chunk in enumerate(np.array_split(encoded, chunk_num)):
        group.attrs[f"{name}{index}"] = chunk


def load_h5_weights(model: keras.Model, file_path: str, *, skip_heads: bool = False) -> None:
    """Assign every weight of `model` (a training or inference model of model.py) from a file of
    the same kind; skip_heads: leave the classifiers' and their BNs' weights (a file trained on
    another number of identities). Raises WeightsFileError when the file does not fit, naming
    what is missing or of another shape."""
    try:
        arrays = read_h5_weights(file_path)
    except (OSError, KeyError) as error:
        raise WeightsFileError(
            f"{file_path!r} is not a readable weights file of this project ({error})."
        ) from error
    variables = {
        (layer_name, key): variable
        for layer_name, layer_variables in model_weights(model).items()
        for key, variable in layer_variables.items()
        if not (skip_heads and layer_name.endswith(("_classifier", "_bn")))
    }
    missing = sorted(f"{layer}: {key}" for layer, key in set(variables) - set(arrays))
    mismatched = sorted(
        f"{layer}: {key} (file {arrays[layer, key].shape}, model {tuple(variable.shape)})"
        for (layer, key), variable in variables.items()
        if (layer, key) in arrays and arrays[layer, key].shape != tuple(variable.shape)
    )
    if missing or mismatched:
        raise WeightsFileError(
            f"Cannot load {file_path!r}: {len(missing)} weights of the model are not in it "
            f"(e.g. {missing[:3]}) and {len(mismatched)} have another shape (e.g. "
            f"{mismatched[:3]}). The file must come from a model with the same "
            "--backbone_model_name and --region_num."
        )
    for (layer, key), variable in variables.items():
        variable.assign(arrays[layer, key])
