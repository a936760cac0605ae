"""Weights files written by the Keras 2 program (training_model.h5, inference_model.h5: Keras 2's
save_weights, HDF5) read by name into the Keras 3 FlipReID model, with h5py.

A Keras 2 file has one group per layer of the model, in the model's order; each lists its
weights by name. The backbone's blocks ("stem", "stage1", ..., "global_stage",
"regional_stage") hold tf2cv's paths ("features/features/stage4/stage4/unit1/body/...", keyed
as load_backbones/keras3/imagenet_h5.py does); the other layers hold "<layer>/<variable>:0".
"""

import h5py
import keras
import numpy as np

from load_backbones.keras3 import block_weights, weight_key
from load_backbones.keras3.imagenet_h5 import string_list_attribute

from ..weights_files import WeightsFileError

TF2CV_NAME_OF_BLOCK = {
    "stem": "init_block",
    "stage1": "stage1",
    "stage2": "stage2",
    "stage3": "stage3",
    "global_stage": "stage4",
    "regional_stage": "stage4",
}


def read_keras2_weights(file_path: str) -> dict[tuple[str, str], np.ndarray]:
    """{(layer name, weight key): array} of a Keras 2 weights file of this project."""
    arrays = {}
    with h5py.File(file_path, "r") as weights_file:
        root = weights_file["model_weights"] if "model_weights" in weights_file else weights_file
        for layer_name in string_list_attribute(root, "layer_names"):
            group = root[layer_name]
            for weight_name in string_list_attribute(group, "weight_names"):
                elements = weight_name.removesuffix(":0").split("/")
                key = weight_key(elements) if layer_name in TF2CV_NAME_OF_BLOCK else elements[-1]
                arrays[layer_name, key] = np.asarray(group[weight_name])
    return arrays


def model_weights(model: keras.Model) -> dict[tuple[str, str], keras.Variable]:
    """{(layer name, weight key): variable} of a Keras 3 FlipReID model, keyed as
    read_keras2_weights keys a file."""
    variables = {}
    for layer in model.layers:
        if layer.name in TF2CV_NAME_OF_BLOCK:
            for key, variable in block_weights(layer, TF2CV_NAME_OF_BLOCK[layer.name]).items():
                variables[layer.name, key] = variable
        else:
            for variable in layer.weights:
                variables[layer.name, variable.name] = variable
    return variables


def load_keras2_weights_file(
    model: keras.Model, file_path: str, *, skip_heads: bool = False
) -> None:
    """Assign every weight of `model` (a training or inference model of model.py) from a Keras 2
    file of the same kind; skip_heads: leave the classifiers' and their BNs' weights (a file
    trained on another number of identities). Raises WeightsFileError when the file does not
    fit, naming what is missing or of another shape."""
    try:
        arrays = read_keras2_weights(file_path)
    except (OSError, KeyError) as error:
        raise WeightsFileError(
            f"{file_path!r} is not a readable Keras 2 weights file of this project ({error})."
        ) from error
    variables = model_weights(model)
    if skip_heads:
        variables = {
            (layer, key): variable
            for (layer, key), variable in variables.items()
            if not layer.endswith(("_classifier", "_bn"))
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
            "--backbone_model_name, --region_num and image size."
        )
    for (layer, key), variable in variables.items():
        variable.assign(arrays[layer, key])
