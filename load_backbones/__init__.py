"""The pretrained trunk: a tf2cv ResNet-family backbone as consecutive blocks, last stride 1.

    blocks = load_backbone("resnet50", use_pretrained_backbone=True)

backbones.py: building the trunk (the names it knows, its preprocessing, the stride-1 last
stage). imagenet_weights.py: tf2cv's ImageNet weights files, downloaded once and checked.
"""

import legacy_keras  # noqa: F401, I001  (Keras 2 must be selected before TensorFlow is imported)

from settings import BACKBONE_NAMES, OUTPUT_STRIDE, feature_map_height

from .backbones import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    RESNEST_BODIES,
    TorchPreprocessing,
    load_backbone,
    set_strides_to_one,
)
from .errors import BackboneError
from .imagenet_weights import (
    DOWNLOAD_TIMEOUT_SECONDS,
    cached_weights_file_path,
    download_and_unzip,
    sha1_of,
    weights_file_name,
)

__all__ = [
    "BACKBONE_NAMES",
    "BackboneError",
    "cached_weights_file_path",
    "download_and_unzip",
    "DOWNLOAD_TIMEOUT_SECONDS",
    "feature_map_height",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "load_backbone",
    "OUTPUT_STRIDE",
    "RESNEST_BODIES",
    "set_strides_to_one",
    "sha1_of",
    "TorchPreprocessing",
    "weights_file_name",
]
