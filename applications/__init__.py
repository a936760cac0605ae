"""The FlipReID network (Ni and Rahtu, EUVIP 2021) in Keras 3 on the 2021 release's backbones
(load_backbones), and its files.

    training_model, inference_model = init_model(
        ModelSettings(backbone_model_name="resnet50"), class_num=751
    )

settings.py: ModelSettings, what the architecture flags ask for. model.py: building the training
and inference models, the optimizer. optimizers.py: the optimizer itself (Adam, AdamW, SGD),
its weight decay and per-layer learning rates. layers.py: FlipReID's own layers.
training_model.py: the training step and loss. model_files.py: loading and saving weights
files and the inference model; h5_weights.py: the .h5 layout, read and written by name;
weights_files.py, descriptions.py and release_2021.py: what a weights file holds, the
description beside it, the 2021 release's checkpoints. features.py: embeddings of images.
export.py: the inference model as ONNX or a SavedModel.
"""

import tensorflow_setup  # noqa: F401, I001  (oneDNN and a quiet start, before TensorFlow is imported)

from load_backbones import BackboneError
from settings import POOLING_MODES, ModelSettings

from .descriptions import ARCHITECTURE_FIELDS, ModelDescription, describe_weights_file
from .export import ExportError, export_onnx, export_saved_model
from .features import FeatureExtractor
from .model import (
    Branches,
    apply_layers,
    backbone_blocks,
    build_branches,
    classification_head,
    compile_training_model,
    embed,
    init_model,
    load_trunk,
    make_optimizer,
    make_pooling,
    set_backbone_trainable,
)
from .model_files import (
    describe_model_file,
    inference_model_of_file,
    load_inference_model,
    load_weights,
    load_weights_file,
    model_settings_of_file,
    read_inference_model_description,
    same_person_thresholds_of_file,
    save_inference_model,
    save_weights_atomically,
)
from .optimizers import LayerMap, describe_optimizer
from .weights_files import (
    INFERENCE,
    RELEASE_2021,
    TRAINING,
    WeightsFileError,
    class_num_of,
    weights_file_kind,
)

__all__ = [
    "apply_layers",
    "ARCHITECTURE_FIELDS",
    "backbone_blocks",
    "BackboneError",
    "Branches",
    "build_branches",
    "class_num_of",
    "classification_head",
    "compile_training_model",
    "describe_model_file",
    "describe_optimizer",
    "describe_weights_file",
    "embed",
    "export_onnx",
    "export_saved_model",
    "ExportError",
    "FeatureExtractor",
    "INFERENCE",
    "inference_model_of_file",
    "init_model",
    "LayerMap",
    "load_inference_model",
    "load_trunk",
    "load_weights",
    "load_weights_file",
    "make_optimizer",
    "make_pooling",
    "ModelDescription",
    "model_settings_of_file",
    "ModelSettings",
    "POOLING_MODES",
    "read_inference_model_description",
    "RELEASE_2021",
    "same_person_thresholds_of_file",
    "save_inference_model",
    "save_weights_atomically",
    "set_backbone_trainable",
    "TRAINING",
    "weights_file_kind",
    "WeightsFileError",
]
