"""Which weights file is this, and loading it into the models: the files training writes
(training_model.h5, the standalone inference_model.h5), told apart by what they hold, not by
their names.

    kind = weights_file_kind("output/Market1501_resnet50/inference_model.h5")  # "inference"
"""

import h5py

TRAINING, INFERENCE, RELEASE_2021 = "training", "inference", "2021 release"


class WeightsFileError(Exception):
    """A weights file that cannot be read or does not fit the model; the message says why."""


def layer_names(file_path: str) -> list[str]:
    """The layers of a Keras weights file (save_weights, .h5) in save order."""
    try:
        with h5py.File(file_path, "r") as weights_file:
            names = weights_file.attrs.get("layer_names")
            if names is None and "model_weights" in weights_file:  # a whole-model file
                names = weights_file["model_weights"].attrs.get("layer_names")
            if names is None:
                return []
            return [name.decode() if isinstance(name, bytes) else str(name) for name in names]
    except OSError as error:
        raise WeightsFileError(
            f"{file_path!r} is not a readable HDF5 weights file ({error}). Expected a .h5 file "
            "that training wrote: training_model.h5 or inference_model.h5."
        ) from error


def weights_file_kind(file_path: str) -> str:
    """TRAINING (the whole training model: its heads are in it), INFERENCE (the embedding
    model alone) or RELEASE_2021 (a checkpoint of the 2021 release, which nests an
    inference_model and a classification_model); WeightsFileError for anything else."""
    names = set(layer_names(file_path))
    if {"inference_model", "classification_model"} <= names:
        return RELEASE_2021
    # The global branch ends in a pooling, or a ViT's class token; its last stage is a 2021
    # backbone's "global_stage" or a keras-hub backbone's "global_last_block".
    has_global_branch = bool(names & {"global_pooling", "global_class_token"})
    if "global_classifier" in names and has_global_branch:
        return TRAINING
    if has_global_branch and names & {"global_stage", "global_last_block"}:
        return INFERENCE
    raise WeightsFileError(
        f"{file_path!r} holds neither a training model nor an inference model of this project "
        f"(its layers: {', '.join(sorted(names)[:8]) or 'none'}{' ...' if len(names) > 8 else ''}"
        "). Expected training_model.h5 or inference_model.h5 as training writes them, or a "
        "checkpoint of the 2021 release."
    )


def class_num_of(file_path: str) -> int:
    """The number of training identities of a training-model file (its classifiers' width)."""
    with h5py.File(file_path, "r") as weights_file:
        group = weights_file["global_classifier"]
        kernel_name = group.attrs["weight_names"][0]
        kernel_name = kernel_name.decode() if isinstance(kernel_name, bytes) else kernel_name
        return int(group[kernel_name].shape[-1])
