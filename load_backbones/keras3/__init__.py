"""The 2021 backbones rebuilt in Keras 3 layers, and tf2cv's ImageNet weights read into them.

    blocks = build_backbone_blocks("resnet50", image_size=(384, 128))   # stem, stage1..4
    load_tf2cv_weights(blocks, weights_file_path, backbone_model_name="resnet50")

resnet_family.py: the architectures (last stride 1, IBN-a, ResNeSt's split attention).
normalization.py: batch normalisation as Keras 2's fused kernel computes it, instance normalisation.
imagenet_h5.py: tf2cv's weights files read by name with h5py.
Imports no Keras 2 and no tf2cv model code.
"""

from .imagenet_h5 import block_weights, load_tf2cv_weights, read_tf2cv_features, weight_key
from .normalization import BatchNormalization, InstanceNormalization
from .resnet_family import ARCHITECTURES, TF2CV_BLOCK_NAMES, build_backbone_blocks, build_stage

__all__ = [
    "ARCHITECTURES",
    "BatchNormalization",
    "block_weights",
    "build_backbone_blocks",
    "build_stage",
    "InstanceNormalization",
    "load_tf2cv_weights",
    "read_tf2cv_features",
    "TF2CV_BLOCK_NAMES",
    "weight_key",
]
