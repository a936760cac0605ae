"""The FlipReID network (Ni and Rahtu, EUVIP 2021) on a tf2cv backbone.

    training_model, inference_model = init_model(backbone_model_name="resnet50",
                                                 input_shape=(384, 128, 3), class_num=751)

image -> preprocessing -> stem -> stages 1-3 -+- global stage 4 -> pool -> clip
                                              +- regional stage 4 -> stripes -> conv -> pool -> clip
Each embedding gets a BN -> Dense -> softmax head. With use_horizontal_flipping the training
model runs the batch and its mirror through the same weights and trains on the mean embeddings.
"""

import legacy_keras  # noqa: I001  (Keras 2 must be selected before TensorFlow is imported)

import contextlib
import json
import os
import shutil
import tempfile

import tensorflow as tf

from load_backbones import BackboneError, load_backbone
from metric_learning import batch_hard_triplet_loss
from regularizers import add_l2_regularization

from .layers import (
    BackboneBlock,
    ClipValues,
    FlipAverage,
    GeneralizedMeanPooling,
    HorizontalFlip,
    HorizontalStripes,
)

legacy_keras.require_keras2()

POOLING_MODES = ("GeM", "Average", "Max")
__all__ = [
    "BackboneError",
    "compile_training_model",
    "export_saved_model",
    "init_model",
    "load_inference_model",
    "load_weights",
    "save_inference_model",
    "save_weights_atomically",
    "set_backbone_trainable",
]


def make_pooling(pooling_mode: str, name: str) -> tf.keras.layers.Layer:
    if pooling_mode == "GeM":
        return GeneralizedMeanPooling(name=name)
    if pooling_mode == "Average":
        return tf.keras.layers.GlobalAveragePooling2D(name=name)
    if pooling_mode == "Max":
        return tf.keras.layers.GlobalMaxPooling2D(name=name)
    raise ValueError(f"Unknown pooling_mode {pooling_mode!r}; expected one of {POOLING_MODES}.")


def init_model(
    backbone_model_name: str,
    input_shape: tuple[int, int, int],
    class_num: int,
    region_num: int = 2,
    pooling_mode: str = "GeM",
    min_value: float = 0.0,
    max_value: float = 1.0,
    use_horizontal_flipping: bool = True,
    use_pretrained_backbone: bool = True,
    kernel_regularization_factor: float = 0.0,
    bias_regularization_factor: float = 0.0,
    gamma_regularization_factor: float = 0.0,
    beta_regularization_factor: float = 0.0,
    freeze_backbone: bool = False,
    pretrained_backbone_weights_file_path: str = "",
) -> tuple[tf.keras.Model, tf.keras.Model]:
    """(training_model, inference_model) sharing their weights.

    inference_model: (batch, H, W, 3) 0..255 -> [global embedding, region 1, ..., region n].
    training_model: the same input -> embeddings + class probabilities (one head each).
    """
    preprocessing, *backbone_blocks = load_backbone(
        backbone_model_name, use_pretrained_backbone, pretrained_backbone_weights_file_path
    )
    # The regional branch's stage is a second network's last stage with the same initial weights
    # (tf_keras clone_model silently empties tf2cv stages, so it is built and copied instead).
    regional_stage = load_backbone(backbone_model_name, use_pretrained_backbone=False)[-1]
    regional_stage.set_weights(backbone_blocks[-1].get_weights())
    shared_blocks = [
        BackboneBlock(block, name=name)
        for block, name in zip(
            backbone_blocks[:-1],
            ["stem", *[f"stage{i}" for i in range(1, len(backbone_blocks) - 1)]],
            strict=True,
        )
    ]
    global_stage = BackboneBlock(backbone_blocks[-1], name="global_stage")
    regional_stage = BackboneBlock(regional_stage, name="regional_stage")

    clip = ClipValues(min_value, max_value, name="clip")
    global_pooling = make_pooling(pooling_mode, "global_pooling")
    stripes = HorizontalStripes(region_num, name="stripes")
    channel_num = None  # known once the stage is called
    region_convolutions, region_poolings = [], []

    def embed(images):
        nonlocal channel_num
        feature_map = preprocessing(images)
        for block in shared_blocks:
            feature_map = block(feature_map)
        global_map = global_stage(feature_map)
        embeddings = [clip(global_pooling(global_map))]
        regional_map = regional_stage(feature_map)
        channel_num = regional_map.shape[-1]
        for index, stripe in enumerate(stripes(regional_map)):
            if len(region_convolutions) <= index:
                region_convolutions.append(
                    tf.keras.layers.Conv2D(
                        channel_num // region_num,
                        3,
                        padding="same",
                        activation="relu",
                        name=f"region{index + 1}_conv",
                    )
                )
                region_poolings.append(make_pooling(pooling_mode, f"region{index + 1}_pooling"))
            embeddings.append(clip(region_poolings[index](region_convolutions[index](stripe))))
        return embeddings

    images = tf.keras.Input(shape=input_shape, name="image")
    embeddings = embed(images)
    inference_model = tf.keras.Model(images, embeddings, name="inference_model")
    if use_horizontal_flipping:
        mirrored_embeddings = embed(HorizontalFlip(name="mirror")(images))
        embeddings = FlipAverage(name="flip_average")([embeddings, mirrored_embeddings])
    probabilities = []
    for index, embedding in enumerate(embeddings):
        head_name = "global" if index == 0 else f"region{index}"
        features = tf.keras.layers.BatchNormalization(epsilon=2e-5, name=f"{head_name}_bn")(
            embedding
        )
        logits = tf.keras.layers.Dense(
            class_num,
            use_bias=False,
            name=f"{head_name}_classifier",
            kernel_initializer=tf.keras.initializers.RandomNormal(stddev=0.001),
        )(features)
        probabilities.append(
            tf.keras.layers.Activation("softmax", dtype="float32", name=f"{head_name}_probability")(
                logits
            )
        )
    embeddings = [
        tf.keras.layers.Activation("linear", dtype="float32", name=name)(embedding)
        for embedding, name in zip(embeddings, embedding_names(region_num), strict=True)
    ]
    training_model = tf.keras.Model(images, embeddings + probabilities, name="training_model")
    add_l2_regularization(
        training_model,
        kernel_regularization_factor,
        bias_regularization_factor,
        gamma_regularization_factor,
        beta_regularization_factor,
    )
    set_backbone_trainable(training_model, not freeze_backbone)
    return training_model, inference_model


def embedding_names(region_num: int) -> list[str]:
    return ["global_embedding", *[f"region{i}_embedding" for i in range(1, region_num + 1)]]


def set_backbone_trainable(model: tf.keras.Model, trainable: bool) -> None:
    """Freeze or unfreeze every backbone block (both last-stage copies too). Compile again
    afterwards: Keras 2 fixes the trainable weights of a model when it is compiled."""
    for layer in model.layers:
        if isinstance(layer, BackboneBlock):
            layer.trainable = trainable


def triplet_loss(identity_labels, embeddings):
    return batch_hard_triplet_loss(embeddings, identity_labels)


def compile_training_model(
    training_model: tf.keras.Model, learning_rate: float = 2e-4, jit_compile: bool = False
) -> None:
    """Adam; a triplet loss on each embedding output and cross-entropy on each head, weight 1.

    Targets for fit: identity labels (batch,) for each embedding output, one-hot labels for
    each head, in the order of the model's outputs.
    """
    losses = [
        triplet_loss if name.endswith("_embedding") else "categorical_crossentropy"
        for name in training_model.output_names
    ]
    training_model.compile(
        optimizer=tf.keras.optimizers.Adam(learning_rate=learning_rate),
        loss=losses,
        jit_compile=jit_compile,
    )


@contextlib.contextmanager
def all_blocks_trainable(model: tf.keras.Model):
    """Keras 2 .h5 files list a layer's trainable weights before its non-trainable ones, so a
    file written with a frozen backbone would not load into an unfrozen one. Weights are saved
    and loaded with every block trainable, then the freezing is restored."""
    blocks = [layer for layer in model.layers if isinstance(layer, BackboneBlock)]
    states = [block.trainable for block in blocks]
    for block in blocks:
        block.trainable = True
    try:
        yield
    finally:
        for block, state in zip(blocks, states, strict=True):
            block.trainable = state


def load_weights(model: tf.keras.Model, file_path: str) -> None:
    """Load weights written by save_weights_atomically, whatever either model's freezing."""
    with all_blocks_trainable(model):
        model.load_weights(file_path)


def save_weights_atomically(model: tf.keras.Model, file_path: str) -> None:
    """Weights to .h5 through a temporary file: an interrupted save never leaves half a file."""
    folder_path = os.path.dirname(os.path.abspath(file_path))
    os.makedirs(folder_path, exist_ok=True)
    handle, temporary_path = tempfile.mkstemp(suffix=".h5", dir=folder_path)
    os.close(handle)
    try:
        with all_blocks_trainable(model):
            model.save_weights(temporary_path)
        os.replace(temporary_path, file_path)
    except BaseException:
        if os.path.exists(temporary_path):
            os.remove(temporary_path)
        raise


def save_inference_model(
    inference_model: tf.keras.Model, file_path: str, model_config: dict
) -> None:
    """The inference model's weights (file_path, .h5) and, beside it, the init_model arguments
    that rebuild it (file_path with .json): tf2cv networks do not survive Keras' whole-model
    save and load, so the architecture comes back from code."""
    save_weights_atomically(inference_model, file_path)
    config_path = os.path.splitext(file_path)[0] + ".json"
    with open(config_path + ".tmp", "w") as config_file:
        json.dump(model_config, config_file, indent=2)
    os.replace(config_path + ".tmp", config_path)


def load_inference_model(file_path: str) -> tf.keras.Model:
    """Rebuild an inference model saved by save_inference_model and load its weights."""
    config_path = os.path.splitext(file_path)[0] + ".json"
    with open(config_path) as config_file:
        model_config = json.load(config_file)
    model_config = {**model_config, "use_pretrained_backbone": False}
    _, inference_model = init_model(**model_config)
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
    parent_path = os.path.dirname(os.path.abspath(folder_path))
    os.makedirs(parent_path, exist_ok=True)
    temporary_path = tempfile.mkdtemp(dir=parent_path, prefix=".saved_model-")
    try:
        tf.saved_model.save(module, temporary_path, signatures={"serving_default": serve})
        if os.path.isdir(folder_path):
            raise FileExistsError(f"{folder_path} already exists; not overwriting it.")
        os.replace(temporary_path, folder_path)
    finally:
        shutil.rmtree(temporary_path, ignore_errors=True)
