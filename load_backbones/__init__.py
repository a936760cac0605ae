"""The pretrained trunk: the 2021 release's ResNet-family backbones (ResNet-18 to 152,
IBN-ResNet-50/101, ResNeSt-50/101, last stride 1) in Keras 3 layers, with tf2cv's ImageNet
weights read into them by name; and today's backbones from keras-hub (DINOv2 ViT-S/14 and
ViT-B/14, CLIP ViT-B/16, ResNet-50), named by their presets.

    blocks = build_backbone_blocks("resnet50", image_size=(384, 128))   # stem, stage1..4
    load_tf2cv_weights(blocks, cached_weights_file_path("resnet50"), backbone_model_name="resnet50")

resnet_family.py: the architectures, built as keras-hub builds its backbones (one functional
model per block, plain arguments). normalization.py: batch normalisation as Keras 2's fused
kernel computes it, instance normalisation. imagenet_h5.py: tf2cv's weights files read with
h5py. imagenet_weights.py: those files' names, the local cache, one checked download. tf2cv's
ImageNet weights (imgclsmob) are better than Keras' own: ResNet-50 top-1 77.9 vs 74.9.
keras_hub_family.py: the keras-hub backbones as a trunk and two copies of the last block, with
the presets' weights (docs/backbones.md).

    blocks = build_keras_hub_blocks("dinov2_small", image_size=(256, 128), preset_source="")
"""

import tensorflow_setup  # noqa: F401, I001  (oneDNN and a quiet start, before Keras imports TensorFlow)

from settings import BACKBONE_NAMES, KERAS_HUB_BACKBONE_NAMES, OUTPUT_STRIDE, feature_map_height

from .errors import BackboneError
from .imagenet_h5 import block_weights, load_tf2cv_weights, read_tf2cv_features, weight_key
from .imagenet_weights import (
    DOWNLOAD_TIMEOUT_SECONDS,
    cached_weights_file_path,
    download_and_unzip,
    sha1_of,
    weights_file_name,
)
from .keras_hub_family import (
    KERAS_HUB_ARCHITECTURES,
    KERAS_HUB_BLOCK_NAMES,
    KerasHubBlocks,
    PatchTokens,
    build_keras_hub_blocks,
    keras_hub_block_weights,
)
from .normalization import BatchNormalization, InstanceNormalization
from .resnet_family import ARCHITECTURES, TF2CV_BLOCK_NAMES, build_backbone_blocks, build_stage

__all__ = [
    "ARCHITECTURES",
    "BACKBONE_NAMES",
    "BackboneError",
    "BatchNormalization",
    "block_weights",
    "build_backbone_blocks",
    "build_keras_hub_blocks",
    "build_stage",
    "cached_weights_file_path",
    "download_and_unzip",
    "DOWNLOAD_TIMEOUT_SECONDS",
    "feature_map_height",
    "InstanceNormalization",
    "KERAS_HUB_ARCHITECTURES",
    "KERAS_HUB_BACKBONE_NAMES",
    "KERAS_HUB_BLOCK_NAMES",
    "keras_hub_block_weights",
    "KerasHubBlocks",
    "load_tf2cv_weights",
    "OUTPUT_STRIDE",
    "PatchTokens",
    "read_tf2cv_features",
    "sha1_of",
    "TF2CV_BLOCK_NAMES",
    "weight_key",
    "weights_file_name",
]
