"""The FlipReID network (Ni and Rahtu, EUVIP 2021) in Keras 3 on the backbones of load_backbones:
the Keras 2 versions' network (tests/keras2_reference/model.py), layer for layer and name for name.

    training_model, inference_model = init_model(
        ModelSettings(backbone_model_name="resnet50", use_horizontal_flipping_inside_model=True),
        class_num=751,
    )

image -> preprocessing -> stem -> stages 1-3 -+- global stage 4 -> pool -> clip
                                              +- regional stage 4 -> stripes -> conv -> pool -> clip
On a keras-hub backbone (load_backbones/keras_hub_family.py, docs/backbones.md) the trunk is its
own, and a ViT's last transformer layer (with the final norm) is the duplicated block:
image -> preprocessing -> patch tokens, layers 1..L-1 -+- global layer L -> class token
                                                       +- regional layer L -> patch grid -> stripes
Each embedding gets a BN -> Dense -> softmax head. With use_horizontal_flipping_inside_model the
training model runs the batch and its mirror through the same weights and its embeddings are
the means (the flipping loss is one of the model's losses).
"""

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

import keras

from load_backbones import (
    KERAS_HUB_BACKBONE_NAMES,
    KERAS_HUB_BLOCK_NAMES,
    BatchNormalization,
    build_backbone_blocks,
    build_keras_hub_blocks,
    build_stage,
    load_tf2cv_weights,
)
from settings import (
    POOLING_MODES,
    ModelSettings,
    OptimizerSettings,
    RegularizationSettings,
    feature_map_height,
    feature_map_width,
)

from . import optimizers
from .layers import (
    ClassToken,
    ClipValues,
    FlipAverage,
    GeneralizedMeanPooling,
    HorizontalFlip,
    HorizontalStripes,
    PatchGrid,
    TorchPreprocessing,
)
from .training_model import TrainingModel

TRUNK_BLOCK_NAMES = ("stem", "stage1", "stage2", "stage3")
LAST_STAGE_NAMES = ("global_stage", "regional_stage")
# Every backbone block a model may hold: the 2021 backbones' and a keras-hub backbone's.
BACKBONE_BLOCK_NAMES = (*TRUNK_BLOCK_NAMES, *LAST_STAGE_NAMES, *KERAS_HUB_BLOCK_NAMES)


@dataclass(frozen=True)
class Branches:
    """The layers after the shared trunk, created once and called on the image and its mirror.

    global_head: from the global last stage's output to the global embedding (pooling, clip; on
    a ViT the class token, or the patch grid and pooling). regional_feature_map: from the
    regional last stage's output to a (batch, rows, cols, C) map (a ViT's patch grid; nothing
    on a ResNet).
    """

    global_stage: keras.Model
    global_head: list[keras.layers.Layer]
    regional_stage: keras.Model
    regional_feature_map: list[keras.layers.Layer]
    stripes: HorizontalStripes
    region_convolutions: list[keras.layers.Conv2D]
    region_poolings: list[keras.layers.Layer]
    clip: ClipValues


def init_model(
    settings: ModelSettings,
    *,
    class_num: int,
    use_pretrained_backbone: bool = True,
    pretrained_backbone_weights_file_path: str = "",
    regularization: RegularizationSettings | None = None,
    freeze_backbone: bool = False,
) -> tuple[TrainingModel, keras.Model]:
    """(training_model, inference_model) sharing their weights.

    inference_model: (batch, H, W, 3) 0..255 -> [global embedding, region 1, ..., region n].
    training_model: the same input -> embeddings + class probabilities (one head each); with
    settings.use_horizontal_flipping_inside_model, every embedding is the mean of the image's
    and its mirror's, and the flipping loss is in training_model.losses after a call.
    """
    trunk, last_stages = load_trunk(
        settings,
        use_pretrained_backbone=use_pretrained_backbone,
        pretrained_backbone_weights_file_path=pretrained_backbone_weights_file_path,
    )
    images = keras.Input(shape=settings.input_shape, name="image")
    feature_map = apply_layers(trunk, images)
    branches = build_branches(settings, last_stages)
    embeddings = embed(feature_map, branches)
    inference_model = keras.Model(images, embeddings, name="inference_model")
    if settings.use_horizontal_flipping_inside_model:
        # The mirror's pass waits for the image's embeddings, so that every BatchNormalization
        # statistic is updated with the image's batch first, then the mirror's (2021 release).
        mirrored_images = HorizontalFlip(name="mirror")([images, *embeddings])
        mirrored_embeddings = embed(apply_layers(trunk, mirrored_images), branches)
        embeddings = FlipAverage(name="flip_average")([embeddings, mirrored_embeddings])
    head_names = ["global", *[f"region{i}" for i in range(1, settings.region_num + 1)]]
    probabilities = [
        classification_head(embedding, name=name, class_num=class_num)
        for embedding, name in zip(embeddings, head_names, strict=True)
    ]
    embeddings = [
        keras.layers.Activation("linear", dtype="float32", name=f"{name}_embedding")(embedding)
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
    settings: ModelSettings,
    *,
    use_pretrained_backbone: bool,
    pretrained_backbone_weights_file_path: str,
) -> tuple[list[keras.layers.Layer], tuple[keras.Model, keras.Model]]:
    """([preprocessing, stem, stage1, ...], (global last stage, regional last stage)); both last
    stages start from the same weights (ImageNet's, or the global one's random ones). A keras-hub
    backbone: ([preprocessing, trunk], (global last block, regional last block)), its weights
    from its preset (by name, or the folder pretrained_backbone_weights_file_path)."""
    image_size = (settings.image_height, settings.image_width)
    if settings.backbone_model_name in KERAS_HUB_BACKBONE_NAMES:
        preset_source = ""
        if use_pretrained_backbone:
            preset_source = pretrained_backbone_weights_file_path or settings.backbone_model_name
        blocks = build_keras_hub_blocks(
            settings.backbone_model_name, image_size=image_size, preset_source=preset_source
        )
        preprocessing = TorchPreprocessing(mean=blocks.mean, std=blocks.std, name="preprocessing")
        return [preprocessing, blocks.trunk], (blocks.global_last_block, blocks.regional_last_block)
    *shared_blocks, global_stage = build_backbone_blocks(
        settings.backbone_model_name,
        image_size=image_size,
        block_names=(*TRUNK_BLOCK_NAMES, "global_stage"),
    )
    regional_stage = build_stage(
        settings.backbone_model_name,
        3,
        input_shape=global_stage.input.shape[1:],
        name="regional_stage",
    )
    if use_pretrained_backbone:
        from load_backbones import cached_weights_file_path

        weights_file_path = pretrained_backbone_weights_file_path or cached_weights_file_path(
            settings.backbone_model_name
        )
        load_tf2cv_weights(
            [*shared_blocks, global_stage],
            weights_file_path,
            backbone_model_name=settings.backbone_model_name,
        )
    regional_stage.set_weights(global_stage.get_weights())
    return [TorchPreprocessing(name="preprocessing"), *shared_blocks], (
        global_stage,
        regional_stage,
    )


def build_branches(
    settings: ModelSettings, last_stages: tuple[keras.Model, keras.Model]
) -> Branches:
    """The global branch (stage, pooling) and the regional one (stage, stripes, then a 3x3
    convolution with C / region_num filters and a pooling per stripe); one clip for all.

    On a ViT: the global embedding is the class token (or the pooled patch grid, with
    --global_feature pooled_feature_map), unclipped; the regional branch cuts the patch grid.
    """
    global_stage, regional_stage = last_stages
    channel_num = regional_stage.output.shape[-1]
    clip = ClipValues(settings.min_value, settings.max_value, name="clip")
    if not settings.is_vision_transformer:
        global_head = [make_pooling(settings.pooling_mode, name="global_pooling"), clip]
        regional_feature_map = []
    else:
        grid = (
            feature_map_height(settings.image_height, settings.backbone_model_name),
            feature_map_width(settings.image_width, settings.backbone_model_name),
        )
        patch_grid = PatchGrid(grid, name="patch_grid")
        # A ViT's last tokens are layer-normed, so signed: its global embedding is not clipped
        # to [min_value, max_value] (a clip at 0 would zero half of it); the clip, as GeM's
        # max(x, 1e-6), assumes the non-negative post-ReLU features of a ResNet. The regional
        # embeddings come out of a convolution with a ReLU and are clipped as on a ResNet.
        global_head = (
            [ClassToken(name="global_class_token")]
            if settings.uses_class_token
            else [patch_grid, make_pooling(settings.pooling_mode, name="global_pooling")]
        )
        regional_feature_map = [patch_grid]
    return Branches(
        global_stage=global_stage,
        global_head=global_head,
        regional_stage=regional_stage,
        regional_feature_map=regional_feature_map,
        stripes=HorizontalStripes(settings.region_num, name="stripes"),
        region_convolutions=[
            keras.layers.Conv2D(
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
        clip=clip,
    )


def apply_layers(layers: list[keras.layers.Layer], inputs):
    for layer in layers:
        inputs = layer(inputs)
    return inputs


def embed(feature_map, branches: Branches) -> list:
    """The trunk's feature map -> [global embedding, region 1, ..., region n], each
    (batch, channels)."""
    embeddings = [apply_layers(branches.global_head, branches.global_stage(feature_map))]
    regional_map = apply_layers(branches.regional_feature_map, branches.regional_stage(feature_map))
    stripes = branches.stripes(regional_map)
    for stripe, convolution, pooling in zip(
        stripes, branches.region_convolutions, branches.region_poolings, strict=True
    ):
        embeddings.append(branches.clip(pooling(convolution(stripe))))
    return embeddings


def classification_head(embedding, *, name: str, class_num: int):
    """BatchNormalization (Keras 2's defaults: momentum 0.99) -> Dense without bias (normal
    init, stddev 0.001) -> softmax, in float32 under any precision policy."""
    features = BatchNormalization(momentum=0.99, epsilon=2e-5, dtype="float32", name=f"{name}_bn")(
        embedding
    )
    logits = keras.layers.Dense(
        class_num,
        use_bias=False,
        dtype="float32",
        name=f"{name}_classifier",
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.001),
    )(features)
    return keras.layers.Activation("softmax", dtype="float32", name=f"{name}_probability")(logits)


def make_pooling(pooling_mode: str, *, name: str) -> keras.layers.Layer:
    if pooling_mode == "GeM":
        return GeneralizedMeanPooling(name=name)
    if pooling_mode == "Average":
        return keras.layers.GlobalAveragePooling2D(name=name)
    if pooling_mode == "Max":
        return keras.layers.GlobalMaxPooling2D(name=name)
    raise ValueError(f"Unknown pooling_mode {pooling_mode!r}; expected one of {POOLING_MODES}.")


def backbone_blocks(model: keras.Model) -> list[keras.Model]:
    """The backbone's blocks in a FlipReID model: the shared trunk and both last-stage copies."""
    return [layer for layer in model.layers if layer.name in BACKBONE_BLOCK_NAMES]


def set_backbone_trainable(model: keras.Model, trainable: bool) -> None:
    """Freeze or unfreeze every backbone block (both last-stage copies too)."""
    for block in backbone_blocks(model):
        block.trainable = trainable


@contextlib.contextmanager
def all_blocks_trainable(model: keras.Model) -> Iterator[None]:
    """Every backbone block trainable inside the block, as it was after. Keras 3 marks a frozen
    layer's variables non-trainable; here each variable's `trainable` says what it is by design
    (BatchNormalization's statistics are not), whatever the phase."""
    states = [block.trainable for block in backbone_blocks(model)]
    set_backbone_trainable(model, True)
    try:
        yield
    finally:
        for block, state in zip(backbone_blocks(model), states, strict=True):
            block.trainable = state


def make_optimizer(
    training_model: keras.Model, settings: OptimizerSettings | None = None
) -> keras.optimizers.Optimizer:
    """One optimizer for the whole run (by default Adam, as in the 2021 release; optimizers.py
    for the others), built over every variable that trains in either phase, with loss scaling
    under the mixed_float16 policy: both phases use it."""
    with all_blocks_trainable(training_model):
        return optimizers.make_optimizer(
            training_model.trainable_variables,
            settings or OptimizerSettings(),
            layers=backbone_layer_map(training_model),
        )


# keras_hub_family.py names a ViT's transformer layers transformer_layer0, 1, ...
TRANSFORMER_LAYER_PATTERN = r"(?:^|/)transformer_layer(\d+)/"


def backbone_layer_map(training_model: keras.Model) -> optimizers.LayerMap:
    """Where each backbone variable sits, for layer-wise learning rates (BEiT's numbering: the
    embeddings at 0, the heads and everything after the backbone at L + 1):
    - the 2021 ResNets: stem 0, stages 1 to 3, both copies of stage 4 at 4 (RESNET_BLOCK_LAYERS);
    - a keras-hub ViT: its patch embedding (and CLIP's pre-norm) at 0, transformer layer i at
      i + 1 (both copies of the last one at L), the final norm with the heads at L + 1;
    - keras-hub's ResNet-50: its trunk at 1, both copies of its last stage at 2."""
    blocks = {block.name: block.trainable_variables for block in backbone_blocks(training_model)}
    if not set(blocks) & set(KERAS_HUB_BLOCK_NAMES):
        return optimizers.LayerMap.of_blocks(blocks, optimizers.RESNET_BLOCK_LAYERS)
    variables = [variable for block in blocks.values() for variable in block]
    numbers = {
        int(found[1])
        for variable in variables
        if (found := re.search(TRANSFORMER_LAYER_PATTERN, variable.path))
    }
    if not numbers:
        return optimizers.LayerMap.of_blocks(
            blocks, {"trunk": 1, "global_last_block": 2, "regional_last_block": 2}
        )
    return optimizers.LayerMap.of_numbered_layers(
        variables,
        layer_num=max(numbers) + 1,
        layer_pattern=TRANSFORMER_LAYER_PATTERN,
        first_number=0,
        embedding_pattern="patch_tokens|pre_norm",
    )


def compile_training_model(
    training_model: TrainingModel,
    *,
    optimizer: keras.optimizers.Optimizer | None = None,
    learning_rate: float | None = None,
    jit_compile: bool = False,
) -> None:
    """Compile with `optimizer` (default: a new make_optimizer); the losses are the training
    model's own (training_model.py). Compile again after freezing or unfreezing."""
    optimizer = optimizer or make_optimizer(training_model)
    if learning_rate is not None:
        optimizer.learning_rate.assign(learning_rate)
    # Keras' JAX trainer runs an uncompiled step operation by operation, many times slower.
    jit_compile = jit_compile or keras.backend.backend() == "jax"
    training_model.compile(optimizer=optimizer, jit_compile=jit_compile)
