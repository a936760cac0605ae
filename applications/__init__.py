"""The FlipReID network (Ni and Rahtu, EUVIP 2021) on a tf2cv backbone.

    training_model, inference_model = init_model(
        ModelSettings(backbone_model_name="resnet50", use_horizontal_flipping_inside_model=True),
        class_num=751,
    )

image -> preprocessing -> stem -> stages 1-3 -+- global stage 4 -> pool -> clip
                                              +- regional stage 4 -> stripes -> conv -> pool -> clip
Each embedding gets a BN -> Dense -> softmax head. With use_horizontal_flipping_inside_model the
training model runs the batch and its mirror through the same weights and trains on the mean
embeddings (docs/method.md).
"""

import legacy_keras  # noqa: I001  (Keras 2 must be selected before TensorFlow is imported)

import dataclasses
import json
import os
from dataclasses import dataclass

import tensorflow as tf

from atomic_files import atomic_folder, atomic_output, write_atomically
from load_backbones import BACKBONE_NAMES, OUTPUT_STRIDE, BackboneError, feature_map_height
from load_backbones import load_backbone
from metric_learning import global_batch_hard_triplet_loss
from regularizers import RegularizationSettings
from settings_checks import SettingsError, require_at_least, require_one_of

from .descriptions import (
    ARCHITECTURE_FIELDS,
    ModelDescription,
    describe_weights_file,
    field_types_of,
    upgraded,
)
from .features import FeatureExtractor
from .training_model import TrainingModel
from .release_2021 import load_release_2021_weights
from .weights_files import (
    INFERENCE,
    RELEASE_2021,
    TRAINING,
    WeightsFileError,
    class_num_of,
    weights_file_kind,
)
from .layers import (
    BackboneBlock,
    all_blocks_trainable,
    ClipValues,
    FlipAverage,
    GeneralizedMeanPooling,
    HorizontalFlip,
    HorizontalStripes,
)

legacy_keras.require_keras2()

POOLING_MODES = ("GeM", "Average", "Max")
__all__ = [
    "ARCHITECTURE_FIELDS",
    "POOLING_MODES",
    "ModelDescription",
    "describe_model_file",
    "FeatureExtractor",
    "BackboneError",
    "ModelSettings",
    "read_inference_model_description",
    "compile_training_model",
    "make_optimizer",
    "export_saved_model",
    "init_model",
    "load_inference_model",
    "load_weights",
    "load_weights_file",
    "WeightsFileError",
    "weights_file_kind",
    "class_num_of",
    "describe_weights_file",
    "TRAINING",
    "INFERENCE",
    "RELEASE_2021",
    "save_inference_model",
    "save_weights_atomically",
    "set_backbone_trainable",
]


@dataclass(frozen=True)
class ModelSettings:
    """The architecture: with the number of training identities, all that defines the network.

    Field names are the command-line flags; defaults are the 2021 release's.
    """

    backbone_model_name: str = "resnet50"
    image_height: int = 384
    image_width: int = 128
    region_num: int = 2
    pooling_mode: str = "GeM"
    min_value: float = 0.0
    max_value: float = 1.0
    use_horizontal_flipping_inside_model: bool = False

    def __post_init__(self):
        require_one_of(self, "backbone_model_name", BACKBONE_NAMES)
        require_one_of(self, "pooling_mode", POOLING_MODES)
        require_at_least(self, image_height=1, image_width=1, region_num=1)
        if self.min_value >= self.max_value:
            raise SettingsError(
                f"--min_value ({self.min_value}) must be below --max_value ({self.max_value})."
            )
        row_num = feature_map_height(self.image_height)
        if row_num < self.region_num:
            raise SettingsError(
                f"--image_height {self.image_height} gives a last feature map {row_num} row(s) "
                f"high (the backbone divides the height by {OUTPUT_STRIDE}, rounding up), too "
                f"few for --region_num {self.region_num} stripes. Use --image_height of at least "
                f"{OUTPUT_STRIDE * (self.region_num - 1) + 1} or a smaller --region_num."
            )

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.image_height, self.image_width, 3)


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


def load_weights(model: tf.keras.Model, file_path: str) -> None:
    """Load weights written by save_weights_atomically, whatever either model's freezing."""
    with all_blocks_trainable(model):
        model.load_weights(file_path)


def load_weights_file(
    training_model: tf.keras.Model, inference_model: tf.keras.Model, file_path: str
) -> tuple[str, bool]:
    """Load either file training writes: training_model.h5 into the training model,
    inference_model.h5 into the inference model (whose weights the training model shares; its
    heads keep their values); or a checkpoint of the 2021 release (release_2021.py). Returns
    (the kind: weights_files.TRAINING, INFERENCE or RELEASE_2021; whether the file's classifier
    heads were left out because they are for another number of identities).

    Raises WeightsFileError when the file is neither, or does not fit (another backbone or
    --region_num).
    """
    kind = weights_file_kind(file_path)
    class_num = training_model.get_layer("global_classifier").units
    if kind == RELEASE_2021:
        return kind, load_release_2021_weights(training_model, file_path)
    heads_skipped = kind == TRAINING and class_num_of(file_path) != class_num
    model = training_model if kind == TRAINING else inference_model
    try:
        with all_blocks_trainable(model):
            if heads_skipped:  # the rest by layer name; the classifiers' shapes do not fit
                model.load_weights(file_path, by_name=True, skip_mismatch=True)
            else:
                model.load_weights(file_path)
    except Exception as error:  # h5py and Keras raise many kinds for a file that does not fit
        raise WeightsFileError(
            f"Cannot load the {kind} model weights from {file_path!r}: {error}. The file must "
            "come from a model with the same --backbone_model_name and --region_num."
        ) from error
    return kind, heads_skipped


def describe_model_file(file_path: str) -> ModelDescription:
    """The architecture a weights file was built with, as far as it says (descriptions.py)."""
    return describe_weights_file(file_path, field_types=field_types_of(ModelSettings))


def save_weights_atomically(model: tf.keras.Model, file_path: str) -> None:
    """Weights to .h5 through a temporary file: an interrupted save never leaves half a file."""
    with all_blocks_trainable(model), atomic_output(file_path) as temporary_path:
        model.save_weights(temporary_path)


def save_inference_model(
    inference_model: tf.keras.Model, file_path: str, *, settings: ModelSettings, class_num: int
) -> None:
    """The inference model's weights (file_path, .h5) and, beside it, what rebuilds it
    (file_path with .json: the ModelSettings fields and class_num): tf2cv networks do not
    survive Keras' whole-model save and load, so the architecture comes back from code."""
    save_weights_atomically(inference_model, file_path)
    description = {**dataclasses.asdict(settings), "class_num": class_num}
    write_atomically(os.path.splitext(file_path)[0] + ".json", json.dumps(description, indent=2))


def read_inference_model_description(config_path: str) -> tuple[ModelSettings, int]:
    """(settings, class_num) from a .json written by save_inference_model, this version's or
    the earlier one's (input_shape and use_horizontal_flipping instead of the flag names)."""
    with open(config_path) as config_file:
        description = upgraded(json.load(config_file))
    class_num = description.pop("class_num")
    return ModelSettings(**description), class_num


def load_inference_model(file_path: str) -> tf.keras.Model:
    """Rebuild an inference model saved by save_inference_model and load its weights."""
    settings, class_num = read_inference_model_description(os.path.splitext(file_path)[0] + ".json")
    _, inference_model = init_model(settings, class_num=class_num, use_pretrained_backbone=False)
    load_weights(inference_model, file_path)
    return inference_model


def export_saved_model(inference_model: tf.keras.Model, folder_path: str) -> None:
    """A SavedModel whose default signature maps images (batch, H, W, 3), 0..255 float32, to
    {"embeddings": the concatenated embeddings}; load with tf.saved_model.load."""
    height, width, channels = inference_model.input_shape[1:]

    @tf.function(input_signature=[tf.TensorSpec([None, height, width, channels], tf.float32)])
    def serve(images):
        return {"embeddings": tf.concat(inference_model(images, training=False), axis=-1)}

    module = tf.Module()
    module.model = inference_model
    module.serve = serve
    with atomic_folder(folder_path) as temporary_path:
        tf.saved_model.save(module, temporary_path, signatures={"serving_default": serve})
