"""The 2021 release's backbones in Keras 3: ResNet-18 to 152, IBN-ResNet-50/101 (IBN-a) and
ResNeSt-50/101 (ResNeSt-A), as consecutive functional blocks, last stride 1.

    blocks = build_backbone_blocks("resnesta50", image_size=(384, 128))  # stem, stage1..stage4

Each block computes what tf2cv's block of the same name computes (tf2cv 0.0.18 models/resnet.py,
ibnresnet.py, resnesta.py), with the 2021 specifics as arguments:
- last_stride_one: the last stage is built with stride 1, as the 2021 release builds it, so a
  ResNeSt body has no 3x3 average pool there (DESIGN.md section 3);
- IBN-a: instance normalisation on the first half of the channels of each bottleneck's first
  convolution in stages 1 to 3 (Pan et al., ECCV 2018);
- ResNeSt: split attention with radix 2 (Zhang et al., 2020), deep stem, average-pool down-sampling.

Layer names are tf2cv's layer paths with "." for "/" (e.g. "unit1.body.conv1.conv.conv" in block
"stage1"), so that tf2cv's ImageNet weights files load by name (imagenet_h5.py). Padding is
explicit (ZeroPadding2D, then a "valid" convolution or pooling) as in tf2cv, so every operation
is the one tf2cv ran.
"""

from dataclasses import dataclass

import keras
from keras import layers, ops

from .errors import BackboneError
from .normalization import BatchNormalization, InstanceNormalization

TF2CV_BLOCK_NAMES = ("init_block", "stage1", "stage2", "stage3", "stage4")
STAGE_WIDTHS = (64, 128, 256, 512)  # output channels per stage, before the bottleneck factor
BOTTLENECK_FACTOR = 4


@dataclass(frozen=True)
class Architecture:
    """What tells the nine backbones apart."""

    family: str  # "resnet", "ibn_resnet" or "resnesta"
    units_per_stage: tuple[int, int, int, int]
    bottleneck: bool = True
    stem_channels: int = 64


ARCHITECTURES = {
    "resnet18": Architecture("resnet", (2, 2, 2, 2), bottleneck=False),
    "resnet34": Architecture("resnet", (3, 4, 6, 3), bottleneck=False),
    "resnet50": Architecture("resnet", (3, 4, 6, 3)),
    "resnet101": Architecture("resnet", (3, 4, 23, 3)),
    "resnet152": Architecture("resnet", (3, 8, 36, 3)),
    "ibn_resnet50": Architecture("ibn_resnet", (3, 4, 6, 3)),
    "ibn_resnet101": Architecture("ibn_resnet", (3, 4, 23, 3)),
    "resnesta50": Architecture("resnesta", (3, 4, 6, 3)),
    "resnesta101": Architecture("resnesta", (3, 4, 23, 3), stem_channels=128),
}


def architecture_of(backbone_model_name: str) -> "Architecture":
    if backbone_model_name not in ARCHITECTURES:
        raise BackboneError(
            f"Unknown backbone_model_name {backbone_model_name!r}; expected one of "
            f"{', '.join(ARCHITECTURES)}."
        )
    return ARCHITECTURES[backbone_model_name]


def build_backbone_blocks(
    backbone_model_name: str,
    *,
    image_size: tuple[int, int],
    last_stride_one: bool = True,
    block_names: tuple[str, ...] = TF2CV_BLOCK_NAMES,
) -> list[keras.Model]:
    """[stem, stage1, stage2, stage3, stage4] as functional models, each fed the previous one's
    output; float32 (batch, H, W, 3) ImageNet-normalised images in, no final pooling.

    Args:
        backbone_model_name: a key of ARCHITECTURES.
        image_size: (height, width) of the images, e.g. (384, 128): ResNeSt's ceil-mode pooling
            pads by the static size, as tf2cv's does.
        last_stride_one: the last stage keeps the resolution (24x8 for a 384x128 input).
        block_names: the models' names (the layers inside keep tf2cv's paths either way).
    """
    architecture = architecture_of(backbone_model_name)
    images = keras.Input(shape=(*image_size, 3), name="images")
    stem_output = (stem_resnesta if architecture.family == "resnesta" else stem_resnet)(
        images, architecture.stem_channels
    )
    blocks = [keras.Model(images, stem_output, name=block_names[0])]
    for stage_index in range(len(architecture.units_per_stage)):
        blocks.append(
            build_stage(
                backbone_model_name,
                stage_index,
                input_shape=blocks[-1].output.shape[1:],
                last_stride_one=last_stride_one,
                name=block_names[stage_index + 1],
            )
        )
    return blocks


def build_stage(
    backbone_model_name: str,
    stage_index: int,
    *,
    input_shape: tuple[int, int, int],
    last_stride_one: bool = True,
    name: str,
) -> keras.Model:
    """One stage (0 to 3) as a functional model taking the previous block's (H, W, C) output,
    e.g. a second copy of the last stage (FlipReID's regional branch)."""
    architecture = architecture_of(backbone_model_name)
    out_channels = STAGE_WIDTHS[stage_index] * (BOTTLENECK_FACTOR if architecture.bottleneck else 1)
    last_stage = stage_index == len(architecture.units_per_stage) - 1
    first_strides = 1 if stage_index == 0 or (last_stage and last_stride_one) else 2
    stage_input = keras.Input(shape=input_shape, name=f"{name}_input")
    x, in_channels = stage_input, input_shape[-1]
    for unit_index in range(architecture.units_per_stage[stage_index]):
        x = unit(
            x,
            f"unit{unit_index + 1}",
            architecture=architecture,
            in_channels=in_channels,
            out_channels=out_channels,
            strides=first_strides if unit_index == 0 else 1,
        )
        in_channels = out_channels
    return keras.Model(stage_input, x, name=name)


def unit(x, path, *, architecture, in_channels, out_channels, strides):
    """One residual unit: body + identity (projected where the shape changes), then ReLU."""
    projected = in_channels != out_channels or strides != 1
    if architecture.family == "resnesta":
        body = resnesta_bottleneck(x, f"{path}.body", out_channels=out_channels, strides=strides)
        identity = (
            resnesta_down_block(x, f"{path}.identity_block", out_channels, strides)
            if projected
            else x
        )
    else:
        if architecture.family == "ibn_resnet":
            body = ibn_bottleneck(
                x,
                f"{path}.body",
                out_channels=out_channels,
                strides=strides,
                use_ibn=out_channels < 2048,  # stages 1 to 3
            )
        elif architecture.bottleneck:
            body = bottleneck(x, f"{path}.body", out_channels=out_channels, strides=strides)
        else:
            body = basic_block(x, f"{path}.body", out_channels=out_channels, strides=strides)
        identity = (
            conv_block(x, f"{path}.identity_conv", out_channels, 1, strides=strides, relu=False)
            if projected
            else x
        )
    return layers.ReLU(name=f"{path}.activ")(layers.Add(name=f"{path}.add")([body, identity]))


def basic_block(x, path, *, out_channels, strides):
    """ResNet-18/34: two 3x3 convolutions, the first strided."""
    x = conv_block(x, f"{path}.conv1", out_channels, 3, strides=strides)
    return conv_block(x, f"{path}.conv2", out_channels, 3, relu=False)


def bottleneck(x, path, *, out_channels, strides):
    """ResNet-50+ as tf2cv's resnet50 (conv1_stride=True): the stride on the first 1x1."""
    mid_channels = out_channels // BOTTLENECK_FACTOR
    x = conv_block(x, f"{path}.conv1", mid_channels, 1, strides=strides)
    x = conv_block(x, f"{path}.conv2", mid_channels, 3)
    return conv_block(x, f"{path}.conv3", out_channels, 1, relu=False)


def ibn_bottleneck(x, path, *, out_channels, strides, use_ibn):
    """IBN-ResNet-a: IBN after the first 1x1, the stride on the 3x3."""
    mid_channels = out_channels // BOTTLENECK_FACTOR
    x = conv_block(x, f"{path}.conv1", mid_channels, 1, norm="ibn" if use_ibn else "bn")
    x = conv_block(x, f"{path}.conv2", mid_channels, 3, strides=strides)
    return conv_block(x, f"{path}.conv3", out_channels, 1, relu=False)


def resnesta_bottleneck(x, path, *, out_channels, strides):
    """ResNeSt-A: 1x1, split-attention 3x3, a 3x3 average pool where strided, 1x1."""
    mid_channels = out_channels // BOTTLENECK_FACTOR
    x = conv_block(x, f"{path}.conv1", mid_channels, 1)
    x = split_attention_conv(x, f"{path}.conv2", mid_channels)
    if strides > 1:
        x = average_pool(x, f"{path}.pool", pool_size=3, strides=strides, padding=1)
    return conv_block(x, f"{path}.conv3", out_channels, 1, relu=False)


def resnesta_down_block(x, path, out_channels, strides):
    """ResNeSt's identity projection: ceil-mode average pool (none at stride 1), then 1x1."""
    if strides > 1:
        x = average_pool(x, f"{path}.pool", pool_size=strides, strides=strides, ceil_mode=True)
    return conv_block(x, f"{path}.conv", out_channels, 1, relu=False)


def stem_resnet(images, channels):
    x = conv_block(images, "init_block.conv", channels, 7, strides=2)
    return max_pool(x, "init_block.pool")


def stem_resnesta(images, channels):
    """SENet's deep stem: three 3x3 convolutions (the first strided), then max pooling."""
    x = conv_block(images, "init_block.conv1", channels // 2, 3, strides=2)
    x = conv_block(x, "init_block.conv2", channels // 2, 3)
    x = conv_block(x, "init_block.conv3", channels, 3)
    return max_pool(x, "init_block.pool")


def conv_block(x, path, filters, kernel_size, *, strides=1, groups=1, relu=True, norm="bn"):
    """tf2cv's ConvBlock: zero padding of kernel_size // 2, a "valid" convolution without bias
    (split into `groups` convolutions as tf2cv's Conv2d does), BN or IBN, ReLU."""
    padding = kernel_size // 2
    if padding:
        x = layers.ZeroPadding2D(padding, name=f"{path}.conv.pad")(x)
    convolution = dict(kernel_size=kernel_size, strides=strides, padding="valid", use_bias=False)
    if groups == 1:
        x = layers.Conv2D(filters, name=f"{path}.conv.conv", **convolution)(x)
    else:
        x = layers.Concatenate(name=f"{path}.conv.concat")(
            [
                layers.Conv2D(
                    filters // groups, name=f"{path}.conv.convgroup{index + 1}", **convolution
                )(part)
                for index, part in enumerate(ops.split(x, groups, axis=-1))
            ]
        )
    if norm == "ibn":
        x = instance_batch_normalization(x, f"{path}.ibn")
    else:
        x = BatchNormalization(name=f"{path}.bn")(x)
    return layers.ReLU(name=f"{path}.activ")(x) if relu else x


def instance_batch_normalization(x, path):
    """IBN-a: the first half of the channels instance-normalised, the rest batch-normalised."""
    first_half = x.shape[-1] // 2
    instance_part, batch_part = ops.split(x, [first_half], axis=-1)
    return layers.Concatenate(name=f"{path}.concat")(
        [
            InstanceNormalization(name=f"{path}.inst_norm")(instance_part),
            BatchNormalization(name=f"{path}.batch_norm")(batch_part),
        ]
    )


def split_attention_conv(x, path, channels, *, radix=2, reduction=4, min_channels=32):
    """ResNeSt's split-attention 3x3 convolution (tf2cv's SAConvBlock, groups 1): radix grouped
    convolutions, then a softmax over the radix of a channel attention from their sum."""
    x = conv_block(x, f"{path}.conv", channels * radix, 3, groups=radix)
    splits = ops.split(x, radix, axis=-1)
    attention = layers.Add(name=f"{path}.att.sum")(splits)
    attention = layers.GlobalAveragePooling2D(keepdims=True, name=f"{path}.att.pool")(attention)
    attention_channels = max(channels * radix // reduction, min_channels)
    attention = layers.Conv2D(attention_channels, 1, name=f"{path}.att.conv1.conv")(attention)
    attention = BatchNormalization(name=f"{path}.att.bn")(attention)
    attention = layers.ReLU(name=f"{path}.att.activ")(attention)
    attention = layers.Conv2D(channels * radix, 1, name=f"{path}.att.conv2.conv")(attention)
    attention = layers.Reshape((radix, channels), name=f"{path}.att.reshape")(attention)
    attention = layers.Softmax(axis=1, name=f"{path}.att.softmax")(attention)
    weighted = [
        layers.Multiply(name=f"{path}.att.weight{index + 1}")(
            [split, layers.Reshape((1, 1, channels))(attention[:, index])]
        )
        for index, split in enumerate(splits)
    ]
    return layers.Add(name=f"{path}.att.weighted_sum")(weighted)


def max_pool(x, path):
    """3x3 max pooling, stride 2, zero padding 1 (inputs are ReLU outputs, >= 0)."""
    x = layers.ZeroPadding2D(1, name=f"{path}.pad")(x)
    return layers.MaxPooling2D(3, strides=2, padding="valid", name=f"{path}.pool")(x)


def average_pool(x, path, *, pool_size, strides, padding=0, ceil_mode=False):
    """tf2cv's AvgPool2d: zeros counted in the average, a stride-1 pool then a 1x1 strided one;
    in ceil mode a dimension whose windows do not fit exactly is padded by 1 on both sides."""
    if ceil_mode:
        height, width = x.shape[1:3]
        padding = (
            int((height + 2 * padding - pool_size) % strides != 0) + padding,
            int((width + 2 * padding - pool_size) % strides != 0) + padding,
        )
    else:
        padding = (padding, padding)
    if any(padding):
        x = layers.ZeroPadding2D(padding, name=f"{path}.pad")(x)
    x = layers.AveragePooling2D(pool_size, strides=1, padding="valid", name=f"{path}.pool")(x)
    return layers.AveragePooling2D(1, strides=strides, padding="valid", name=f"{path}.stride_pool")(
        x
    )
