"""The program's FlipReID network (applications, Keras 3) reads the weights files of the Keras 2
versions and computes the same function, bit for bit: the training model's embeddings, class
probabilities and flipping loss in inference and training mode, the moving statistics that a
training-mode call leaves, the inference model's embeddings, eagerly and in a tf.function (each
against the Keras 2 reference run the same way); then its training step
(applications/training_model.py) does what the Keras 2 reference's does: a step with the
backbone frozen, then, unfrozen and compiled again with the same Adam, a second step: every loss
term reported and every weight after each step equal. And the other way: a file the program
writes holds every weight under the key the Keras 2 versions used, so it loads back into the
program and, by key, into the Keras 2 reference, which then computes the same embeddings.

As the program does (training/devices.py), Grappler's arithmetic optimizer is off: it would
merge a weight's gradient terms into AddNs whose order of addition changes from run to run.

The reference is the Keras 2 versions' network (tests/keras2_reference: init_model, as of commit
c4699ff) with random weights in every layer (GeM powers and BatchNorm statistics too), saved as
the Keras 2 versions saved (save_keras2_weights).
"""

import keras2_reference  # noqa: I001  (tf.keras is Keras 2 from here on, for the reference)

import numpy as np
import pytest
import tensorflow as tf
from keras2_reference.layers import BackboneBlock, all_blocks_trainable

import applications
from applications import WeightsFileError
from applications.h5_weights import load_h5_weights, model_weights, read_h5_weights
from load_backbones import weight_key
from settings import ModelSettings, RegularizationSettings

CLASS_NUM = 4
REGULARIZATION = RegularizationSettings(5e-4, 5e-4, 5e-4, 5e-4)


def unclipped_settings(backbone_model_name: str) -> ModelSettings:
    """64x32 with the mirror inside, and a clipping range so wide that no embedding saturates:
    a misplaced weight cannot hide behind the clip."""
    return ModelSettings(
        backbone_model_name=backbone_model_name,
        image_height=64,
        image_width=32,
        max_value=1e4,
        use_horizontal_flipping_inside_model=True,
    )


@pytest.fixture
def arithmetic_optimizer_off():
    before = tf.config.optimizer.get_experimental_options().get("arithmetic_optimization", True)
    tf.config.optimizer.set_experimental_options({"arithmetic_optimization": False})
    yield
    tf.config.optimizer.set_experimental_options({"arithmetic_optimization": before})


def randomise(model, rng) -> None:
    """Every weight of a Keras 2 or Keras 3 model drawn at random, BatchNorm's statistics and
    scales around 1."""
    values = []
    for weight in model.weights:
        shape, name = tuple(weight.shape), weight.name.removesuffix(":0")
        if name.endswith(("moving_variance", "gamma")):
            value = rng.uniform(0.5, 1.5, shape)
        elif name.endswith("kernel"):
            value = rng.normal(0.0, np.sqrt(2.0 / max(1, np.prod(shape[:-1]))), shape)
        elif name.endswith("power"):
            value = rng.uniform(1.0, 3.0, shape)
        else:
            value = rng.normal(0.0, 0.1, shape)
        values.append(value.astype(np.float32))
    model.set_weights(values)


def save_keras2_weights(keras2_model, file_path: str) -> None:
    """The file the Keras 2 versions wrote (their save_weights_atomically, c4699ff's
    applications/model_files.py, less the temporary name): Keras 2's save_weights to .h5 with
    every backbone block trainable, so that trainable weights are listed first."""
    with all_blocks_trainable(keras2_model):
        keras2_model.save_weights(file_path)


def program_weights_by_key(model) -> dict[tuple[str, str], object]:
    """{(layer name, weight key): variable} of the program's model, keyed as read_h5_weights
    keys a file."""
    return {
        (layer_name, key): variable
        for layer_name, variables in model_weights(model).items()
        for key, variable in variables.items()
    }


def keras2_weights_by_key(keras2_model) -> dict[tuple[str, str], tf.Variable]:
    """{(layer name, weight key): variable} of the Keras 2 reference's model, from Keras 2's
    own names: a backbone block's tf2cv paths reduced by weight_key (e.g. "features/features/
    stage1/stage1/unit1/body/conv1/conv/conv/kernel:0" -> "stage1/unit1/body/conv1/conv/
    kernel"), "<layer>/<variable>:0" elsewhere."""
    weights = {}
    for layer in keras2_model.layers:
        for weight in layer.weights:
            elements = weight.name.removesuffix(":0").split("/")
            key = weight_key(elements) if isinstance(layer, BackboneBlock) else elements[-1]
            assert (layer.name, key) not in weights, (layer.name, key)
            weights[layer.name, key] = weight
    return weights


def assert_same_outputs(expected, found, *, what):
    assert len(expected) == len(found), what
    for index, (a, b) in enumerate(zip(expected, found, strict=True)):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape, f"{what}, output {index}: shape {b.shape}, expected {a.shape}"
        difference = np.abs(a - b)
        assert np.array_equal(a, b), (
            f"{what}, output {index}: largest difference {difference.max()} at "
            f"{np.unravel_index(np.argmax(difference), a.shape)}"
        )


def assert_same_weights(keras2_model, keras3_model, file_path, *, what):
    save_keras2_weights(keras2_model, file_path)
    expected = read_h5_weights(file_path)
    found = program_weights_by_key(keras3_model)
    assert sorted(found) == sorted(expected), what
    differing = []
    for (layer, key), variable in found.items():
        difference = np.abs(np.asarray(variable) - expected[layer, key])
        if difference.max() > 0:
            differing.append(f"{layer}: {key} (largest difference {difference.max()})")
    assert not differing, f"{what}: {len(differing)} weights differ, e.g. {differing[:3]}"


# IBN-ResNet's own layers (instance normalisation) are compared, gradients too, in
# test_keras3_backbones.py; its files are read by the same code as these two backbones'.
@pytest.mark.slow
@pytest.mark.parametrize("backbone_model_name", ["resnet18", "resnesta50"])
def test_keras2_files_load_into_the_keras3_network_which_computes_and_trains_the_same(
    backbone_model_name, tmp_path, arithmetic_optimizer_off
):
    settings = unclipped_settings(backbone_model_name)
    rng = np.random.default_rng(0)
    keras2_training, keras2_inference = keras2_reference.init_model(
        settings, class_num=CLASS_NUM, use_pretrained_backbone=False, regularization=REGULARIZATION
    )
    randomise(keras2_training, rng)
    training_file_path = str(tmp_path / "training_model.h5")
    inference_file_path = str(tmp_path / "inference_model.h5")
    save_keras2_weights(keras2_training, training_file_path)
    save_keras2_weights(keras2_inference, inference_file_path)
    images = rng.uniform(0, 255, (4, 64, 32, 3)).astype(np.float32)
    expected_inference = [output.numpy() for output in keras2_inference(images, training=False)]
    # In a tf.function Grappler fuses operations (e.g. a convolution with its batch norm), which
    # rounds otherwise than eager execution: the graph is compared with Keras 2's graph.
    expected_in_graph = [
        output.numpy()
        for output in tf.function(lambda batch: keras2_inference(batch, training=False))(images)
    ]

    keras3_training, _ = applications.init_model(
        settings, class_num=CLASS_NUM, use_pretrained_backbone=False, regularization=REGULARIZATION
    )
    load_h5_weights(keras3_training, training_file_path)
    for training in (False, True):
        assert_same_outputs(
            keras2_training(images, training=training),
            keras3_training(images, training=training),
            what=f"training model, training={training}",
        )
    assert [float(loss) for loss in keras3_training.losses] == [
        float(loss) for loss in keras2_training.losses
    ]  # the flipping loss
    assert_same_weights(
        keras2_training,
        keras3_training,
        str(tmp_path / "after_call.h5"),
        what="after a training-mode call",
    )

    _, keras3_inference = applications.init_model(
        settings, class_num=CLASS_NUM, use_pretrained_backbone=False
    )
    load_h5_weights(keras3_inference, inference_file_path)
    assert_same_outputs(
        expected_inference, keras3_inference(images, training=False), what="inference model"
    )
    in_graph = tf.function(lambda batch: keras3_inference(batch, training=False))
    assert_same_outputs(expected_in_graph, in_graph(images), what="inference model, tf.function")

    keras2_optimizer = keras2_reference.make_optimizer(keras2_training)
    keras3_optimizer = applications.make_optimizer(keras3_training)
    labels = np.repeat(np.arange(CLASS_NUM), 2)
    one_hot = np.eye(CLASS_NUM, dtype=np.float32)[labels]
    targets = [labels] * 3 + [one_hot] * 3  # three embeddings, then three heads
    batch = rng.uniform(0, 255, (8, 64, 32, 3)).astype(np.float32)
    for phase, frozen in (("frozen backbone", True), ("whole network", False)):
        for set_trainable, compile_model, model, optimizer in (
            (
                keras2_reference.model.set_backbone_trainable,
                keras2_reference.compile_training_model,
                keras2_training,
                keras2_optimizer,
            ),
            (
                applications.set_backbone_trainable,
                applications.compile_training_model,
                keras3_training,
                keras3_optimizer,
            ),
        ):
            set_trainable(model, not frozen)
            compile_model(model, optimizer=optimizer, learning_rate=1e-3)
        expected = keras2_training.train_on_batch(batch, targets, return_dict=True)
        found = keras3_training.train_on_batch(batch, targets, return_dict=True)
        assert sorted(found) == sorted(expected), phase
        for name, value in expected.items():
            assert float(found[name]) == float(value), f"{phase}: {name}"
        assert_same_weights(
            keras2_training, keras3_training, str(tmp_path / f"{frozen}.h5"), what=phase
        )


def test_a_keras2_file_of_another_backbone_is_refused_with_a_message(tmp_path):
    keras2_settings = ModelSettings(backbone_model_name="resnet18", image_height=64, image_width=32)
    _, keras2_inference = keras2_reference.init_model(
        keras2_settings, class_num=CLASS_NUM, use_pretrained_backbone=False
    )
    file_path = str(tmp_path / "inference_model.h5")
    save_keras2_weights(keras2_inference, file_path)
    settings = ModelSettings(backbone_model_name="resnet34", image_height=64, image_width=32)
    _, keras3_inference = applications.init_model(
        settings, class_num=CLASS_NUM, use_pretrained_backbone=False
    )
    with pytest.raises(WeightsFileError, match="are not in it .* same --backbone_model_name"):
        load_h5_weights(keras3_inference, file_path)


def test_a_file_the_program_writes_loads_back_and_into_the_keras2_reference_by_key(tmp_path):
    """save_weights_atomically's file holds every weight of the program's training model: read
    back into a new one, every weight has its bits; assigned by key (read_h5_weights) to the
    Keras 2 reference, whose keys come from Keras 2's own names, it covers every weight there
    and the reference computes the program's embeddings and class probabilities, bit for bit."""
    settings = unclipped_settings("resnet18")
    rng = np.random.default_rng(0)
    training_model, inference_model = applications.init_model(
        settings, class_num=CLASS_NUM, use_pretrained_backbone=False
    )
    randomise(training_model, rng)
    file_path = str(tmp_path / "training_model.h5")
    applications.save_weights_atomically(training_model, file_path)

    reloaded_training, _ = applications.init_model(
        settings, class_num=CLASS_NUM, use_pretrained_backbone=False
    )
    applications.load_weights(reloaded_training, file_path)
    differing = [
        written.path
        for written, read in zip(training_model.weights, reloaded_training.weights, strict=True)
        if not np.array_equal(written.numpy(), read.numpy())
    ]
    assert not differing, f"{len(differing)} weights differ after reloading, e.g. {differing[:3]}"

    keras2_training, keras2_inference = keras2_reference.init_model(
        settings, class_num=CLASS_NUM, use_pretrained_backbone=False
    )
    arrays = read_h5_weights(file_path)
    keras2_weights = keras2_weights_by_key(keras2_training)
    assert len(keras2_weights) == len(keras2_training.weights)
    assert sorted(keras2_weights) == sorted(arrays), (
        f"keys only in the file: {sorted(set(arrays) - set(keras2_weights))[:3]}, only in the "
        f"Keras 2 reference: {sorted(set(keras2_weights) - set(arrays))[:3]}"
    )
    for key, weight in keras2_weights.items():
        weight.assign(arrays[key])
    images = rng.uniform(0, 255, (4, 64, 32, 3)).astype(np.float32)
    assert_same_outputs(
        keras2_inference(images, training=False),
        inference_model(images, training=False),
        what="inference model, the program's file in the Keras 2 reference",
    )
    assert_same_outputs(
        keras2_training(images, training=False),
        training_model(images, training=False),
        what="training model, the program's file in the Keras 2 reference",
    )
