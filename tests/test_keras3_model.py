"""The Keras 3 FlipReID network (applications/keras3) reads the weights files of today's Keras 2
program and computes the same function, bit for bit: the training model's embeddings, class
probabilities and flipping loss in inference and training mode, the moving statistics that a
training-mode call leaves, the inference model's embeddings, eagerly and in a tf.function (each
against Keras 2 run the same way); then its training step (applications/keras3/training_model.py)
does what Keras 2's does: a step with the backbone frozen, then, unfrozen and compiled again
with the same Adam, a second step: every loss term reported and every weight after each step
equal.

As the program does (training/devices.py), Grappler's arithmetic optimizer is off: it would
merge a weight's gradient terms into AddNs whose order of addition changes from run to run.

The reference is today's Keras 2 network (applications.init_model) with random weights in every
layer (GeM powers and BatchNorm statistics too), saved with today's save functions.
"""

import numpy as np
import pytest
import tensorflow as tf

import applications
from applications import WeightsFileError
from applications import keras3 as flipreid_keras3
from settings import ModelSettings, RegularizationSettings

CLASS_NUM = 4
REGULARIZATION = RegularizationSettings(5e-4, 5e-4, 5e-4, 5e-4)


@pytest.fixture
def arithmetic_optimizer_off():
    before = tf.config.optimizer.get_experimental_options().get("arithmetic_optimization", True)
    tf.config.optimizer.set_experimental_options({"arithmetic_optimization": False})
    yield
    tf.config.optimizer.set_experimental_options({"arithmetic_optimization": before})


def randomise(model, rng) -> None:
    values = []
    for weight in model.weights:
        shape = tuple(weight.shape)
        if weight.name.endswith(("moving_variance:0", "gamma:0")):
            value = rng.uniform(0.5, 1.5, shape)
        elif weight.name.endswith("kernel:0"):
            value = rng.normal(0.0, np.sqrt(2.0 / max(1, np.prod(shape[:-1]))), shape)
        elif weight.name.endswith("power:0"):
            value = rng.uniform(1.0, 3.0, shape)
        else:
            value = rng.normal(0.0, 0.1, shape)
        values.append(value.astype(np.float32))
    model.set_weights(values)


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
    applications.save_weights_atomically(keras2_model, file_path)
    expected = flipreid_keras3.read_keras2_weights(file_path)
    found = flipreid_keras3.keras2_files.model_weights(keras3_model)
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
    # A wide clipping range keeps the embeddings from saturating, so that a misplaced weight
    # cannot hide behind the clip.
    settings = ModelSettings(
        backbone_model_name=backbone_model_name,
        image_height=64,
        image_width=32,
        max_value=1e4,
        use_horizontal_flipping_inside_model=True,
    )
    rng = np.random.default_rng(0)
    keras2_training, keras2_inference = applications.init_model(
        settings, class_num=CLASS_NUM, use_pretrained_backbone=False, regularization=REGULARIZATION
    )
    randomise(keras2_training, rng)
    training_file_path = str(tmp_path / "training_model.h5")
    inference_file_path = str(tmp_path / "inference_model.h5")
    applications.save_weights_atomically(keras2_training, training_file_path)
    applications.save_inference_model(
        keras2_inference, inference_file_path, settings=settings, class_num=CLASS_NUM
    )
    images = rng.uniform(0, 255, (4, 64, 32, 3)).astype(np.float32)
    expected_inference = [output.numpy() for output in keras2_inference(images, training=False)]
    # In a tf.function Grappler fuses operations (e.g. a convolution with its batch norm), which
    # rounds otherwise than eager execution: the graph is compared with Keras 2's graph.
    expected_in_graph = [
        output.numpy()
        for output in tf.function(lambda batch: keras2_inference(batch, training=False))(images)
    ]

    keras3_training, _ = flipreid_keras3.init_model(
        settings, class_num=CLASS_NUM, use_pretrained_backbone=False, regularization=REGULARIZATION
    )
    flipreid_keras3.load_keras2_weights_file(keras3_training, training_file_path)
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

    _, keras3_inference = flipreid_keras3.init_model(
        settings, class_num=CLASS_NUM, use_pretrained_backbone=False
    )
    flipreid_keras3.load_keras2_weights_file(keras3_inference, inference_file_path)
    assert_same_outputs(
        expected_inference, keras3_inference(images, training=False), what="inference model"
    )
    in_graph = tf.function(lambda batch: keras3_inference(batch, training=False))
    assert_same_outputs(expected_in_graph, in_graph(images), what="inference model, tf.function")

    keras2_optimizer = applications.make_optimizer(keras2_training)
    keras3_optimizer = flipreid_keras3.make_optimizer(keras3_training)
    labels = np.repeat(np.arange(CLASS_NUM), 2)
    one_hot = np.eye(CLASS_NUM, dtype=np.float32)[labels]
    targets = [labels] * 3 + [one_hot] * 3  # three embeddings, then three heads
    batch = rng.uniform(0, 255, (8, 64, 32, 3)).astype(np.float32)
    for phase, frozen in (("frozen backbone", True), ("whole network", False)):
        for set_trainable, compile_model, model, optimizer in (
            (
                applications.set_backbone_trainable,
                applications.compile_training_model,
                keras2_training,
                keras2_optimizer,
            ),
            (
                flipreid_keras3.set_backbone_trainable,
                flipreid_keras3.compile_training_model,
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
    _, keras2_inference = applications.init_model(
        keras2_settings, class_num=CLASS_NUM, use_pretrained_backbone=False
    )
    file_path = str(tmp_path / "inference_model.h5")
    applications.save_weights_atomically(keras2_inference, file_path)
    settings = ModelSettings(backbone_model_name="resnet34", image_height=64, image_width=32)
    _, keras3_inference = flipreid_keras3.init_model(
        settings, class_num=CLASS_NUM, use_pretrained_backbone=False
    )
    with pytest.raises(WeightsFileError, match="are not in it .* same --backbone_model_name"):
        flipreid_keras3.load_keras2_weights_file(keras3_inference, file_path)
