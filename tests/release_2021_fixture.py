"""A checkpoint laid out as the 2021 release (nixingyang/FlipReID) writes them, for the tests.

Written here from what its code does (no line of it copied): the training model nests an
"inference_model" and a "classification_model"; inside the first, every block of the tf2cv
backbone but the final pooling is wrapped as a functional model named after the block, after a
preprocessing Lambda; the last stage is built with stride 1 from the start (the release's own
copies of tf2cv's model files give its first unit stride 1, so a ResNeSt unit has no
down-sampling pool at all) and is present twice, as models "<stage>_global_branch" and
"<stage>_regional_branch" whose weights the release renames "global_branch/..." and
"regional_branch/..." (so that an HDF5 file can hold both); GeM layers with one trainable power,
clipping Lambdas, and per stripe a 3x3 Conv2D (C / region_num filters) with a ReLU. The
classification model has, per embedding, BatchNormalization(epsilon=2e-5), Dense without bias
and a softmax. The file is what Keras' whole-model HDF5 save writes under "model_weights"
(tf2cv's layers cannot give Keras a config, so the weights are written by hand in that layout;
the loader reads nothing else).

Keras 2, as the release ran: tf.keras is tf_keras here (keras2_reference selects it before
anything reads tf.keras), and tf2cv's layers are Keras 2 layers.
"""

import keras2_reference  # noqa: F401, I001  (TF_USE_LEGACY_KERAS=1 before tf.keras is read)

import importlib

import h5py
import numpy as np
import tensorflow as tf
import tf_keras

# tf2cv's modules `import tensorflow.keras.layers`, which TensorFlow resolves by the search path
# it set when it was imported (Keras 3 unless TF_USE_LEGACY_KERAS=1 was set by then), whatever
# the attribute tf.keras, which keras2_reference checks, is bound to later.
if importlib.import_module("tensorflow.keras.layers").Layer is not tf_keras.layers.Layer:
    raise ImportError(
        "TensorFlow was imported before TF_USE_LEGACY_KERAS=1 was set, so tf2cv would build "
        "Keras 3 layers: import keras2_reference (or set TF_USE_LEGACY_KERAS=1) before anything "
        "imports TensorFlow, e.g. first in tests/conftest.py."
    )

from tf2cv.model_provider import get_model
from tf2cv.models.common import SimpleSequential
from tf2cv.models.ibnresnet import IBNResUnit
from tf2cv.models.resnesta import ResNeStAUnit
from tf2cv.models.resnet import ResUnit

# The release's preprocessing ("torch" mode), written out: nothing of this project is imported.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class GlobalGeMPooling2D(tf.keras.layers.Layer):
    """GeM with one trainable power, as the release's (named by Keras: global_ge_m_pooling2d)."""

    def build(self, input_shape):
        self.power = self.add_weight(name="power", shape=(), initializer="ones", trainable=True)

    def call(self, inputs):
        pooled = tf.reduce_mean(tf.pow(tf.maximum(inputs, 1e-6), self.power), axis=[1, 2])
        return tf.pow(pooled, 1.0 / self.power)


def wrap_block(block, tensor, name):
    """The block as a functional model of its own, as the release wraps each block."""
    inputs = tf.keras.Input(shape=tensor.shape[1:])
    return tf.keras.Model(inputs, block.call(inputs), name=name)


# The release's last stage, transcribed from its applications/resnet.py, ibnresnet.py and
# resnesta.py, which build it with stride 1 from the start (`strides = 2 if (j == 0) and (i != 0)
# and (i != len(channels) - 1) else 1`): (in_channels, out_channels, unit count, unit). The
# channel counts are tf2cv's get_resnet, get_ibnresnet and get_resnesta's for these depths.
RELEASE_LAST_STAGES = {
    "resnet18": (
        256,
        512,
        2,
        lambda i, o, name: ResUnit(i, o, strides=1, bottleneck=False, conv1_stride=True, name=name),
    ),
    "resnet50": (
        1024,
        2048,
        3,
        lambda i, o, name: ResUnit(i, o, strides=1, bottleneck=True, conv1_stride=True, name=name),
    ),
    "ibn_resnet50": (
        1024,
        2048,
        3,
        lambda i, o, name: IBNResUnit(i, o, strides=1, conv1_ibn=o < 2048, name=name),
    ),
    "resnesta50": (
        1024,
        2048,
        3,
        lambda i, o, name: ResNeStAUnit(i, o, strides=1, bottleneck=True, name=name),
    ),
}


def release_last_stage(backbone_model_name):
    """The last stage as the release constructs it, built, with tf2cv's initial weights."""
    in_channels, out_channels, unit_num, make_unit = RELEASE_LAST_STAGES[backbone_model_name]
    stage = SimpleSequential(name="stage4")
    for index in range(unit_num):
        stage.add(make_unit(in_channels, out_channels, f"unit_3_{index + 1}"))
        in_channels = out_channels
    stage(tf.zeros((1, 8, 4, RELEASE_LAST_STAGES[backbone_model_name][0])))
    return stage


def backbone(backbone_model_name):
    """The release's blocks: tf2cv's stem and first stages, its own stride-1 last stage."""
    network = get_model(backbone_model_name, pretrained=False, data_format="channels_last")
    network.build((None, 224, 224, 3))
    stages = network.features.children[:-2]  # without the last stage and the final pooling
    last_stage = release_last_stage(backbone_model_name)
    # The same weights as tf2cv's stride-2 stage: no weight depends on the stride.
    last_stage.set_weights(network.features.children[-2].get_weights())
    return [*stages, last_stage]


def build_release_2021_training_model(
    backbone_model_name: str,
    *,
    input_shape: tuple,
    class_num: int,
    region_num: int = 2,
    min_value: float = 0.0,
    max_value: float = 1.0,
    seed: int = 0,
):
    """(training_model, inference_model, branch_weights) with random weights;
    branch_weights: {id(variable): "global_branch" or "regional_branch"}."""
    tf.keras.utils.set_random_seed(seed)
    blocks = backbone(backbone_model_name)
    regional_blocks = backbone(backbone_model_name)
    regional_blocks[-1].set_weights(blocks[-1].get_weights())  # a copy, as clone_model makes

    def preprocess(images):
        return (images / 255.0 - tf.constant(IMAGENET_MEAN)) / tf.constant(IMAGENET_STD)

    images = tf.keras.Input(shape=input_shape)
    tensor = images
    for block in [tf.keras.layers.Lambda(preprocess, name="preprocess_input"), *blocks[:-1]]:
        tensor = wrap_block(block, tensor, block.name)(tensor)
    stage_name = blocks[-1].name
    global_branch = wrap_block(blocks[-1], tensor, f"{stage_name}_global_branch")
    regional_branch = wrap_block(regional_blocks[-1], tensor, f"{stage_name}_regional_branch")

    def pool_and_clip(tensor):
        pooled = GlobalGeMPooling2D()(tensor)
        return tf.keras.layers.Lambda(lambda x: tf.clip_by_value(x, min_value, max_value))(pooled)

    embeddings = [pool_and_clip(global_branch(tensor))]
    regional = regional_branch(tensor)
    height = regional.shape[1]
    region_size = height // region_num
    for index in range(region_num):
        start = index * region_size
        stop = height if index == region_num - 1 else start + region_size
        stripe = tf.keras.layers.Lambda(lambda x, start=start, stop=stop: x[:, start:stop])(
            regional
        )
        stripe = tf.keras.layers.Conv2D(regional.shape[-1] // region_num, 3, padding="same")(stripe)
        embeddings.append(pool_and_clip(tf.keras.layers.Activation("relu")(stripe)))
    inference_model = tf.keras.Model(images, embeddings, name="inference_model")

    head_inputs = [tf.keras.Input(shape=embedding.shape[1:]) for embedding in embeddings]
    probabilities = []
    for head_input in head_inputs:
        normalized = tf.keras.layers.BatchNormalization(epsilon=2e-5)(head_input)
        logits = tf.keras.layers.Dense(class_num, use_bias=False)(normalized)
        probabilities.append(tf.keras.layers.Activation("softmax")(logits))
    classification_model = tf.keras.Model(head_inputs, probabilities, name="classification_model")

    images = tf.keras.Input(shape=input_shape)
    plain = inference_model(images)
    mirrored = inference_model(tf.keras.layers.Lambda(tf.image.flip_left_right)(images))
    # The release averages with Python's sum, which starts from 0: the image's embeddings pass
    # through one more addition than the mirror's, so Keras runs the image's call first.
    merged = [sum(pair) / 2 for pair in zip(plain, mirrored, strict=True)]
    training_model = tf.keras.Model(
        images, merged + classification_model(merged), name="training_model"
    )
    flipping_loss = sum(
        tf.reduce_mean(tf.reduce_mean(tf.square(a - b), axis=-1))
        for a, b in zip(plain, mirrored, strict=True)
    )
    training_model.add_metric(flipping_loss, name="flipping", aggregation="mean")
    training_model.add_loss(flipping_loss)
    randomize(training_model, np.random.default_rng(seed))
    branch_weights = {id(v): "global_branch" for v in global_branch.weights}
    branch_weights.update({id(v): "regional_branch" for v in regional_branch.weights})
    return training_model, inference_model, branch_weights


def randomize(model, rng) -> None:
    """Every weight different from its neighbours (a misplaced one changes the outputs):
    normalisation statistics, GeM powers and heads random, convolutions kept at their scale."""
    for variable in model.weights:
        name = variable.name
        shape = variable.shape
        if "moving_variance" in name:
            value = rng.uniform(0.5, 1.5, shape)
        elif "moving_mean" in name or "beta" in name:
            value = rng.normal(0, 0.1, shape)
        elif "gamma" in name:
            value = rng.uniform(0.5, 1.5, shape)
        elif "power" in name:
            value = rng.uniform(1.0, 3.0, shape)
        else:
            value = variable.numpy() * rng.uniform(0.5, 1.5, shape)
        variable.assign(value.astype(np.float32))


def save_like_model_checkpoint(training_model, branch_weights, file_path: str) -> None:
    """The layout of Keras' whole-model HDF5 save: model_weights/<layer>/<weight name>, each
    layer's weight_names listing its trainable weights, then its non-trainable ones."""
    with h5py.File(file_path, "w") as checkpoint:
        checkpoint.attrs["keras_version"] = b"2.3.0-tf"
        checkpoint.attrs["backend"] = b"tensorflow"
        weights_group = checkpoint.create_group("model_weights")
        weights_group.attrs["layer_names"] = [
            layer.name.encode() for layer in training_model.layers
        ]
        for layer in training_model.layers:
            layer_group = weights_group.create_group(layer.name)
            weights = layer.trainable_weights + layer.non_trainable_weights
            names = [
                f"{branch_weights[id(v)]}/{v.name}" if id(v) in branch_weights else v.name
                for v in weights
            ]
            layer_group.attrs["weight_names"] = [name.encode() for name in names]
            for name, variable in zip(names, weights, strict=True):
                layer_group.create_dataset(name, data=variable.numpy())


def compile_like_release_2021(training_model, *, regularization_factor: float, optimizer):
    """The release's losses: per embedding output the soft-margin batch-hard triplet loss on
    Euclidean distances (identities from the one-hot targets), per head categorical
    cross-entropy, all weight 1; L2 terms factor * sum(w^2) on every Conv2D and Dense kernel,
    bias, and BatchNormalization gamma and beta. Returns the number of L2 terms."""

    def triplet(y_true, y_pred):
        labels = tf.argmax(y_true, axis=-1)
        differences = y_pred[:, None, :] - y_pred[None, :, :]
        distances = tf.sqrt(tf.reduce_sum(tf.square(differences), axis=-1) + 1e-12)
        same = tf.equal(labels[:, None], labels[None, :])
        positive = tf.reduce_max(tf.where(same, distances, tf.zeros_like(distances)), axis=1)
        negative = tf.reduce_min(tf.where(same, tf.fill(tf.shape(distances), 1e9), distances), 1)
        return tf.math.softplus(positive - negative)

    variables = {}
    for layer in training_model.submodules:
        if isinstance(layer, tf.keras.layers.Conv2D | tf.keras.layers.Dense):
            for variable in (layer.kernel, getattr(layer, "bias", None)):
                if variable is not None:
                    variables[id(variable)] = variable
        elif isinstance(layer, tf.keras.layers.BatchNormalization):
            for variable in (layer.gamma, layer.beta):
                variables[id(variable)] = variable
    for variable in variables.values():
        training_model.add_loss(
            lambda variable=variable: regularization_factor * tf.reduce_sum(tf.square(variable))
        )
    embedding_num = len(training_model.outputs) // 2
    training_model.compile(
        optimizer=optimizer,
        loss=[triplet] * embedding_num + ["categorical_crossentropy"] * embedding_num,
    )
    return len(variables)
