"""The pretrained trunk: a tf2cv ResNet-family backbone as consecutive blocks, last stride 1.

    blocks = load_backbone("resnet50", use_pretrained_backbone=True)
    # [TorchPreprocessing, stem, stage1, stage2, stage3, stage4]; 384x128 input -> 24x8x2048

ImageNet weights are tf2cv's (imgclsmob): ResNet-50 top-1 77.9, above Keras' own 74.9."""

import tensorflow as tf
from tf2cv.model_provider import get_model
from tf2cv.models.resnesta import ResNeStABlock, ResNeStABottleneck

from load_backbones import BackboneError, cached_weights_file_path, weights_file_name
from settings import BACKBONE_NAMES

IMAGENET_MEAN = (0.485, 0.456, 0.406)


IMAGENET_STD = (0.229, 0.224, 0.225)


RESNEST_BODIES = (ResNeStABlock, ResNeStABottleneck)  # the residual paths of ResNeSt units


@tf.keras.utils.register_keras_serializable(package="flipreid")
class TorchPreprocessing(tf.keras.layers.Layer):
    """0..255 RGB (any dtype) -> ImageNet-normalised float32, as tf2cv's weights expect."""

    def call(self, inputs):
        images = tf.cast(inputs, tf.float32) / 255.0
        return (images - tf.constant(IMAGENET_MEAN)) / tf.constant(IMAGENET_STD)


def load_backbone(
    backbone_model_name: str,
    *,
    use_pretrained_backbone: bool = True,
    pretrained_backbone_weights_file_path: str = "",
    last_stride_one: bool = True,
) -> list[tf.keras.layers.Layer]:
    """[preprocessing, stem, stage1, ..., stageN] of a tf2cv backbone, without final pooling.

    Args:
        backbone_model_name: one of BACKBONE_NAMES.
        use_pretrained_backbone: load ImageNet weights (from pretrained_backbone_weights_file_path
            if given, else from tf2cv's cache ~/.tensorflow/models, downloading if needed).
        last_stride_one: the last stage keeps the resolution (24x8 for a 384x128 input).
    """
    if backbone_model_name not in BACKBONE_NAMES:
        raise BackboneError(
            f"Unknown backbone_model_name {backbone_model_name!r}; expected one of "
            f"{', '.join(BACKBONE_NAMES)}."
        )
    network = get_model(backbone_model_name, pretrained=False, data_format="channels_last")
    network.build((None, 224, 224, 3))  # tf2cv's weights need its 224x224 head to load
    if use_pretrained_backbone:
        weights_file_path = pretrained_backbone_weights_file_path or cached_weights_file_path(
            backbone_model_name
        )
        try:
            network.load_weights(weights_file_path)
        except Exception as error:  # h5py and Keras raise many kinds on a bad file
            raise BackboneError(
                f"Cannot load ImageNet weights for {backbone_model_name} from "
                f"{weights_file_path!r}: {error}. Expected tf2cv's file "
                f"{weights_file_name(backbone_model_name)}; remove a broken copy and retry, "
                "or pass --nouse_pretrained_backbone to train from scratch."
            ) from error
    blocks = [TorchPreprocessing(name="preprocessing"), *network.features.children[:-1]]
    if last_stride_one:
        set_strides_to_one(blocks[-1])
    return blocks


def set_strides_to_one(stage: tf.keras.layers.Layer) -> int:
    """Make a tf2cv stage built with stride 2 compute what it computes when built with stride 1,
    as the 2021 release builds its last stage (its applications/*.py give the last stage's first
    unit stride 1). Before the stage is next called:

    - every convolution and pooling of stride 2 gets stride 1 (Keras 2 layers read `strides` and
      `pool_size` when called; tf2cv's wrappers keep copies for their padding arithmetic, so
      both are changed);
    - a pooling whose window equals its stride (ResNeSt's identity branch, built as
      AvgPool2d(pool_size=strides)) becomes 1x1;
    - a ResNeSt body that down-samples by a 3x3 average pool does not pool at all: tf2cv builds
      that pool only when strides > 1 (`resize`), so at stride 1 the 2021 network has none,
      whereas the pool left in place at stride 1 would blur the feature map.

    Returns the number of changed modules.
    """
    changed = 0
    for module in [stage, *stage.submodules]:
        if isinstance(module, RESNEST_BODIES) and module.resize:
            module.resize = False  # what tf2cv derives from strides=1: no pool in the body
            changed += 1
        strides = getattr(module, "strides", None)
        if strides not in (2, (2, 2), [2, 2]):
            continue
        if getattr(module, "pool_size", None) in (2, (2, 2), [2, 2]):
            module.pool_size = (1, 1)
            for inner in module.submodules:  # tf2cv's AvgPool2d pools in an inner layer
                if hasattr(inner, "pool_size"):
                    inner.pool_size = (1, 1)
        module.strides = (1, 1)
        changed += 1
    return changed
