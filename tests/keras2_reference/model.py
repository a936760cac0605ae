"""The FlipReID network (Ni and Rahtu, EUVIP 2021) on a tf2cv backbone.

    training_model, inference_model = init_model(
        ModelSettings(backbone_model_name="resnet50", use_horizontal_flipping_inside_model=True),
        class_num=751,
    )

image -> preprocessing -> stem -> stages 1-3 -+- global stage 4 -> pool -> clip
                                              +- regional stage 4 -> stripes -> conv -> pool -> clip
Each embedding gets a BN -> Dense -> softmax head. With use_horizontal_flipping_inside_model the
training model runs the batch and its mirror through the same weights and trains on the mean
embeddings (docs/method.md)."""

from dataclasses import dataclass

import tensorflow as tf

from settings import POOLING_MODES, ModelSettings, RegularizationSettings

from .backbones import load_backbone
from .layers import (
    BackboneBlock,
    ClipValues,
    FlipAverage,
    GeneralizedMeanPooling,
    HorizontalFlip,
    HorizontalStripes,
    all_blocks_trainable,
)
from .training_model import TrainingModel
from .triplet_loss import global_batch_hard_triplet_loss


@dataclass(frozen=True)
class Branches:
    """The layers after the shared trunk, created once and called on the image and its mirror."""

    global_stage: BackboneBlock
    global_pooling: tf.keras.layers.Layer
    regional_stage: BackboneBlock
    stripes: HorizontalStripes
    region_convolutions: list[tf.keras.layers.Conv2D]
    region_poolings: list[tf.keras.layers.Layer]
    clip: ClipValues


def init_model(
    settings: ModelSettings,
    *,
    class_num: int,
    use_pretrained_backbone: bool = True,
    pretrained_backbone_weights_file_path: str = "",
    regularization: RegularizationSettings | None = None,
    freeze_backbone: bool = False,
) -> tuple[tf.keras.Model, tf.keras.Model]:
    """(training_model, inference_model) sharing their weights; see the module docstring.

    inference_model: (batch, H, W, 3) 0..255 -> [global embedding, region 1, ..., region n].
    training_model: the same input -> embeddings + class probabilities (one head each); with
    settings.use_horizontal_flipping_inside_model, every embedding is the mean of the image's
    and its mirror's, and the flipping loss is part of the model's losses.
    """
    trunk, last_stages = load_trunk(
        settings.backbone_model_name,
        use_pretrained_backbone=use_pretrained_backbone,
        pretrained_backbone_weights_file_path=pretrained_backbone_weights_file_path,
    )
    images = tf.keras.Input(shape=settings.input_shape, name="image")
    feature_map = apply_layers(trunk, images)
    branches = build_branches(settings, last_stages, trunk_output_shape=feature_map.shape)
    embeddings = embed(feature_map, branches)
    inference_model = tf.keras.Model(images, embeddings, name="inference_model")
    if settings.use_horizontal_flipping_inside_model:
        # The mirror's pass waits for the image's embeddings, so that every layer used by both
        # updates its BatchNormalization statistics with the image's batch first, then the
        # mirror's, as in the 2021 release (docs/method.md, "Two passes per step").
        mirrored_images = HorizontalFlip(name="mirror")([images, *embeddings])
        mirrored_feature_map = apply_layers(trunk, mirrored_images)
        mirrored_embeddings = embed(mirrored_feature_map, branches)
        embeddings = FlipAverage(name="flip_average")([embeddings, mirrored_embeddings])
    head_names = ["global", *[f"region{i}" for i in range(1, settings.region_num + 1)]]
    probabilities = [
        classification_head(embedding, name=name, class_num=class_num)
        for embedding, name in zip(embeddings, head_names, strict=True)
    ]
    embeddings = [
        tf.keras.layers.Activation("linear", dtype="float32", name=f"{name}_embedding")(embedding)
        for embedding, name in zip(embeddings, head_names, strict=True)
    ]
    training_model = TrainingModel(
        images,
        embeddings + probabilities,
        regularization=regularization or RegularizationSettings(0, 0, 0, 0),
        name="training_model",
    )
    set_backbone_trainable(training_model, not freeze_backbone)
    return training_model, inference_model


def load_trunk(
    backbone_model_name: str,
    *,
    use_pretrained_backbone: bool,
    pretrained_backbone_weights_file_path: str,
) -> tuple[list[tf.keras.layers.Layer], tuple[BackboneBlock, BackboneBlock]]:
    """([preprocessing, stem, stage1, ...], (global last stage, regional last stage)).

    The regional stage is a second network's last stage given the same initial weights (tf_keras
    clone_model silently empties tf2cv stages, so it is built and copied instead).
    """
    preprocessing, *blocks = load_backbone(
        backbone_model_name,
        use_pretrained_backbone=use_pretrained_backbone,
        pretrained_backbone_weights_file_path=pretrained_backbone_weights_file_path,
    )
    regional_stage = load_backbone(backbone_model_name, use_pretrained_backbone=False)[-1]
    regional_stage.set_weights(blocks[-1].get_weights())
    shared_block_names = ["stem", *[f"stage{i}" for i in range(1, len(blocks) - 1)]]
    shared_blocks = [
        BackboneBlock(block, name=name)
        for block, name in zip(blocks[:-1], shared_block_names, strict=True)
    ]
    return [preprocessing, *shared_blocks], (
        BackboneBlock(blocks[-1], name="global_stage"),
        BackboneBlock(regional_stage, name="regional_stage"),
    )


def build_branches(
    settings: ModelSettings,
    last_stages: tuple[BackboneBlock, BackboneBlock],
    *,
    trunk_output_shape: tf.TensorShape,
) -> Branches:
    """The global branch (stage, pooling) and the regional one (stage, stripes, then a 3x3
    convolution with C / region_num filters and a pooling per stripe); one clip for all."""
    global_stage, regional_stage = last_stages
    channel_num = regional_stage.compute_output_shape(trunk_output_shape)[-1]
    return Branches(
        global_stage=global_stage,
        global_pooling=make_pooling(settings.pooling_mode, name="global_pooling"),
        regional_stage=regional_stage,
        stripes=HorizontalStripes(settings.region_num, name="stripes"),
        region_convolutions=[
            tf.keras.layers.Conv2D(
                channel_num // settings.region_num,
                3,
                padding="same",
                activation="relu",
                name=f"region{index}_conv",
            )
            for index in range(1, settings.region_num + 1)
        ],
        region_poolings=[
            make_pooling(settings.pooling_mode, name=f"region{index}_pooling")
            for index in range(1, settings.region_num + 1)
        ],
        clip=ClipValues(settings.min_value, settings.max_value, name="clip"),
    )


def apply_layers(layers: list[tf.keras.layers.Layer], inputs):
    for layer in layers:
        inputs = layer(inputs)
    return inputs


def embed(feature_map, branches: Branches) -> list:
    """The trunk's feature map -> [global embedding, region 1, ..., region n], each
    (batch, channels)."""
    embeddings = [branches.clip(branches.global_pooling(branches.global_stage(feature_map)))]
    stripes = branches.stripes(branches.regional_stage(feature_map))
    for stripe, convolution, pooling in zip(
        stripes, branches.region_convolutions, branches.region_poolings, strict=True
    ):
        embeddings.append(branches.clip(pooling(convolution(stripe))))
    return embeddings


def classification_head(embedding, *, name: str, class_num: int):
    """BatchNormalization -> Dense without bias (normal init, stddev 0.001) -> softmax, in
    float32 under any precision policy."""
    features = tf.keras.layers.BatchNormalization(epsilon=2e-5, dtype="float32", name=f"{name}_bn")(
        embedding
    )
    logits = tf.keras.layers.Dense(
        class_num,
        use_bias=False,
        dtype="float32",
        name=f"{name}_classifier",
        kernel_initializer=tf.keras.initializers.RandomNormal(stddev=0.001),
    )(features)
    return tf.keras.layers.Activation("softmax", dtype="float32", name=f"{name}_probability")(
        logits
    )


def make_pooling(pooling_mode: str, *, name: str) -> tf.keras.layers.Layer:
    if pooling_mode == "GeM":
        return GeneralizedMeanPooling(name=name)
    if pooling_mode == "Average":
        return tf.keras.layers.GlobalAveragePooling2D(name=name)
    if pooling_mode == "Max":
        return tf.keras.layers.GlobalMaxPooling2D(name=name)
    raise ValueError(f"Unknown pooling_mode {pooling_mode!r}; expected one of {POOLING_MODES}.")


def set_backbone_trainable(model: tf.keras.Model, trainable: bool) -> None:
    """Freeze or unfreeze every backbone block (both last-stage copies too). Compile again
    afterwards: Keras 2 fixes the trainable weights of a model when it is compiled."""
    for layer in model.layers:
        if isinstance(layer, BackboneBlock):
            layer.trainable = trainable


def make_optimizer(training_model: tf.keras.Model) -> tf.keras.optimizers.Optimizer:
    """One Adam for the whole run, built over every variable that trains in either phase, with
    loss scaling under the mixed_float16 policy.

    As in the 2021 release, both phases use this one optimizer: its step count and the moments
    of the layers trained in the frozen phase carry over into the whole-model phase.
    """
    optimizer = tf.keras.optimizers.Adam()
    with all_blocks_trainable(training_model):
        optimizer.build(training_model.trainable_variables)
    if tf.keras.mixed_precision.global_policy().name == "mixed_float16":
        # float16 gradients underflow without loss scaling (bfloat16 has float32's range).
        optimizer = tf.keras.mixed_precision.LossScaleOptimizer(optimizer)
    return optimizer


def compile_training_model(
    training_model: tf.keras.Model,
    *,
    optimizer: tf.keras.optimizers.Optimizer | None = None,
    learning_rate: float | None = None,
    jit_compile: bool = False,
) -> None:
    """A triplet loss on each embedding output and cross-entropy on each head, weight 1, with
    `optimizer` (default: a new make_optimizer). Compile again after freezing or unfreezing.

    Targets for fit: identity labels (batch,) for each embedding output, one-hot labels for
    each head, in the order of the model's outputs.
    """
    optimizer = optimizer or make_optimizer(training_model)
    if learning_rate is not None:
        optimizer.learning_rate.assign(learning_rate)
    losses = [
        global_batch_hard_triplet_loss
        if name.endswith("_embedding")
        else "categorical_crossentropy"
        for name in training_model.output_names
    ]
    training_model.compile(optimizer=optimizer, loss=losses, jit_compile=jit_compile)
