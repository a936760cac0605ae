"""tf2cv's ImageNet weights files (Keras 2 HDF5, written by `save_weights`) read by name into the
Keras 3 blocks of resnet_family.py, with h5py: no Keras 2 needed.

A tf2cv file holds groups "features" and "output1"; "features" lists its weights as paths such as
"features/features/stage1/stage1/unit1/body/conv1/conv/conv/kernel:0" (how often a name repeats
depends on the Keras version that wrote the file). Both sides are reduced to one key by dropping
repeats of a path element and the leading "features": "stage1/unit1/body/conv1/conv/kernel".
"""

import h5py
import keras
import numpy as np

from .errors import BackboneError
from .resnet_family import TF2CV_BLOCK_NAMES


def weight_key(path_elements: list[str]) -> str:
    """The path without consecutive repeats and without the leading "features"."""
    kept = [
        element
        for index, element in enumerate(path_elements)
        if index == 0 or element != path_elements[index - 1]
    ]
    if kept and kept[0] == "features":
        kept = kept[1:]
    return "/".join(kept)


def string_list_attribute(group: h5py.Group, name: str) -> list[str]:
    """A list of names that Keras 2 stored as an HDF5 attribute: split into name0, name1, ...
    when it exceeds HDF5's 64 kB limit on an attribute (ResNeSt-101's weight names do)."""
    if name in group.attrs:
        chunks = [group.attrs[name]]
    else:
        chunks = []
        while f"{name}{len(chunks)}" in group.attrs:
            chunks.append(group.attrs[f"{name}{len(chunks)}"])
        if not chunks:
            raise KeyError(f"no attribute {name!r} in {group.name!r}")
    return [
        value.decode() if isinstance(value, bytes) else str(value)
        for chunk in chunks
        for value in chunk
    ]


def read_tf2cv_features(weights_file_path: str) -> dict[str, np.ndarray]:
    """{key: array} of the "features" group of a tf2cv weights file (the classifier is left)."""
    with h5py.File(weights_file_path, "r") as weights_file:
        group = weights_file["features"]
        names = string_list_attribute(group, "weight_names")
        arrays = {}
        for name in names:
            key = weight_key(name.removesuffix(":0").split("/"))
            if key in arrays:
                raise BackboneError(
                    f"{weights_file_path!r} holds two weights named {key!r}: not a tf2cv "
                    "ImageNet weights file."
                )
            arrays[key] = np.asarray(group[name])
    return arrays


def block_weights(block: keras.Model, tf2cv_block_name: str) -> dict[str, keras.Variable]:
    """{key: variable} of a block of resnet_family.py (tf2cv's block tf2cv_block_name, e.g.
    "stage4", whatever the block's own name), keys as in read_tf2cv_features."""
    return {
        weight_key([tf2cv_block_name, *layer.name.split("."), variable.name]): variable
        for layer in block.layers
        for variable in layer.weights
    }


def load_tf2cv_weights(
    blocks: list[keras.Model], weights_file_path: str, *, backbone_model_name: str
) -> None:
    """Assign every weight of the blocks [stem, stage1, ..., stage4] from a tf2cv weights file;
    all of them must be there with the same shape (the last stage's stride does not change its
    weights)."""
    try:
        arrays = read_tf2cv_features(weights_file_path)
    except (OSError, KeyError) as error:
        raise BackboneError(
            f"Cannot read ImageNet weights for {backbone_model_name} from {weights_file_path!r}: "
            f"{error}. Expected a tf2cv weights file (HDF5 with a 'features' group); remove a "
            "broken copy and retry, or pass --nouse_pretrained_backbone to train from scratch."
        ) from error
    variables = {}
    for block, tf2cv_block_name in zip(blocks, TF2CV_BLOCK_NAMES, strict=True):
        variables.update(block_weights(block, tf2cv_block_name))
    missing = sorted(set(variables) - set(arrays))
    mismatched = [
        f"{key}: file {arrays[key].shape}, network {tuple(variable.shape)}"
        for key, variable in variables.items()
        if key in arrays and arrays[key].shape != tuple(variable.shape)
    ]
    unused = sorted(set(arrays) - set(variables))
    if missing or mismatched or unused:
        raise BackboneError(
            f"{weights_file_path!r} does not fit {backbone_model_name}: "
            f"{len(missing)} weights missing (e.g. {missing[:3]}), "
            f"{len(mismatched)} of another shape (e.g. {mismatched[:3]}), "
            f"{len(unused)} not used (e.g. {unused[:3]}). Is it the weights file of another "
            "backbone? Pass the file of this one, or --nouse_pretrained_backbone."
        )
    for key, variable in variables.items():
        variable.assign(arrays[key])
