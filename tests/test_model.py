"""The FlipReID network, its losses and regularisers, against NumPy references written here."""

import dataclasses
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import applications
import load_backbones
from applications.layers import GeneralizedMeanPooling
from metric_learning import batch_hard_triplet_loss
from regularizers import L2Penalty
from settings import ModelSettings, RegularizationSettings

INPUT_SHAPE = (64, 32, 3)
CLASS_NUM = 4
FLIP_SETTINGS = ModelSettings(
    backbone_model_name="resnet18",
    image_height=64,
    image_width=32,
    use_horizontal_flipping_inside_model=True,
)
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def build(settings=FLIP_SETTINGS, **options):
    options = {"use_pretrained_backbone": False, **options}
    return applications.init_model(settings, class_num=CLASS_NUM, **options)


@pytest.fixture(scope="module")
def flip_models():
    keras.utils.set_random_seed(0)
    return build()


def random_images(seed, count=8):
    return np.random.default_rng(seed).uniform(0, 255, (count, *INPUT_SHAPE)).astype(np.float32)


def targets(training_model, labels):
    one_hot = np.eye(CLASS_NUM, dtype=np.float32)[labels]
    return [
        labels if name.endswith("_embedding") else one_hot for name in training_model.output_names
    ]


def reference_triplet(embeddings, labels, margin):
    losses = []
    for anchor in range(len(labels)):
        distances = np.sqrt(((embeddings - embeddings[anchor]) ** 2).sum(axis=1) + 1e-12)
        positive = max(distances[j] for j in range(len(labels)) if labels[j] == labels[anchor])
        negative = min(distances[j] for j in range(len(labels)) if labels[j] != labels[anchor])
        difference = positive - negative
        if margin == "soft":
            losses.append(np.log1p(np.exp(difference)))
        elif margin is None:
            losses.append(difference)
        else:
            losses.append(max(difference + margin, 0.0))
    return np.array(losses)


def test_triplet_loss_matches_reference():
    rng = np.random.default_rng(1)
    embeddings = rng.standard_normal((12, 7)).astype(np.float32)
    labels = np.repeat(np.arange(4), 3)
    loss = batch_hard_triplet_loss(tf.constant(labels), tf.constant(embeddings))
    assert loss.shape == (12,)
    np.testing.assert_allclose(
        loss.numpy(), reference_triplet(embeddings, labels, "soft"), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16])
def test_triplet_loss_in_half_precision_with_equal_embeddings(dtype):
    embeddings = np.random.default_rng(2).standard_normal((8, 16)).astype(np.float32)
    embeddings[1] = embeddings[0]  # equal embeddings: sqrt(0) must not give NaN gradients
    variable = tf.Variable(tf.cast(embeddings, dtype))
    labels = tf.constant([0, 0, 1, 1, 2, 2, 3, 3])
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(batch_hard_triplet_loss(labels, variable))
    gradient = tape.gradient(loss, variable)
    assert np.isfinite(loss.numpy()) and np.isfinite(tf.cast(gradient, tf.float32).numpy()).all()
    expected = reference_triplet(
        tf.cast(variable, tf.float32).numpy(), labels.numpy(), "soft"
    ).mean()
    assert loss.numpy() == pytest.approx(expected, rel=1e-3)


def test_gem_pooling_matches_reference_and_serialises():
    layer = GeneralizedMeanPooling()
    inputs = np.random.default_rng(3).uniform(-0.5, 2.0, (2, 5, 3, 4)).astype(np.float32)
    layer(inputs)
    layer.power.assign(3.0)
    expected = (np.maximum(inputs, 1e-6) ** 3).mean(axis=(1, 2)) ** (1 / 3)
    np.testing.assert_allclose(layer(inputs).numpy(), expected, rtol=1e-5)
    assert layer.trainable_weights == [layer.power]
    restored = keras.layers.deserialize(keras.layers.serialize(layer))
    assert isinstance(restored, GeneralizedMeanPooling)


def test_l2_terms_match_reference_with_separate_factors():
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(3, 3)(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.DepthwiseConv2D(3, use_bias=False)(x)
    x = keras.layers.Dense(2)(keras.layers.Flatten()(x))
    model = keras.Model(inputs, x)
    for index, variable in enumerate(model.weights):
        variable.assign(np.random.default_rng(index).standard_normal(variable.shape))
    factors = {"kernel": 1e-3, "bias": 2e-2, "gamma": 0.0, "beta": 0.5}
    penalty = L2Penalty.of(
        model,
        RegularizationSettings(
            **{f"{kind}_regularization_factor": factor for kind, factor in factors.items()}
        ),
    )
    assert penalty.counts == {"kernel": 3, "bias": 2, "gamma": 0, "beta": 1}
    expected = 0.0
    expected_gradients = {}  # d/dw of factor * sum(w^2), for the penalised variables only
    for index, variable in enumerate(model.weights):
        kind = variable.name.replace("depthwise_kernel", "kernel")
        if factors.get(kind):
            value = variable.numpy().astype(np.float64)
            expected += factors[kind] * float((value**2).sum())
            expected_gradients[index] = 2 * factors[kind] * value
    assert float(penalty.value()) == pytest.approx(expected, rel=1e-5)
    gradients = penalty.gradients(model.weights)
    for index, (variable, gradient) in enumerate(zip(model.weights, gradients, strict=True)):
        if index in expected_gradients:
            np.testing.assert_allclose(gradient.numpy(), expected_gradients[index], rtol=1e-6)
        else:
            assert gradient is None, variable.path


def test_the_training_step_adds_the_l2_gradient_to_the_back_propagated_one():
    """One SGD step (learning rate 1) with the L2 factors and one without, from the same
    weights and batch: the steps differ by 2 * factor * w exactly where a weight is penalised
    (up to float32 rounding of the sums), and nowhere else."""
    factor = 0.25
    models = []
    for regularization in (
        RegularizationSettings(factor, factor, factor, factor),
        RegularizationSettings(0, 0, 0, 0),
    ):
        keras.utils.set_random_seed(0)
        training_model, _ = build(regularization=regularization)
        applications.compile_training_model(
            training_model, optimizer=keras.optimizers.SGD(learning_rate=1.0)
        )
        models.append(training_model)
    penalised, plain = models
    plain.set_weights(penalised.get_weights())
    before = {id(v): v.numpy() for v in penalised.weights}
    images, labels = random_images(3), np.repeat(np.arange(4), 2)
    for training_model in models:
        training_model.train_on_batch(images, targets(training_model, labels))
    penalised_ids = {
        id(v) for _, _, variables in penalised.l2_penalty.variables_by_kind for v in variables
    }
    assert penalised_ids and {id(v) for v in penalised.trainable_weights} > penalised_ids
    for with_l2, without in zip(penalised.trainable_weights, plain.trainable_weights, strict=True):
        difference = without.numpy() - with_l2.numpy()  # the step's extra descent
        expected = 2 * factor * before[id(with_l2)] if id(with_l2) in penalised_ids else 0.0
        np.testing.assert_allclose(difference, expected, atol=2e-6, err_msg=with_l2.path)


def test_structure_and_regularisation_counts(flip_models):
    training_model, inference_model = flip_models
    assert [output.shape[-1] for output in inference_model.outputs] == [512, 256, 256]
    assert training_model.output_names == [
        "global_embedding",
        "region1_embedding",
        "region2_embedding",
        "global_probability",
        "region1_probability",
        "region2_probability",
    ]
    global_stage = training_model.get_layer("global_stage")
    regional_stage = training_model.get_layer("regional_stage")
    global_count = global_stage.count_params()
    assert global_count > 8_000_000 and regional_stage.count_params() == global_count
    # Same initial values, separate variables.
    for a, b in zip(global_stage.weights, regional_stage.weights, strict=True):
        assert a is not b
    no_regularisation = build(
        dataclasses.replace(FLIP_SETTINGS, use_horizontal_flipping_inside_model=False)
    )[0]
    assert no_regularisation.losses == []


def test_flip_averaged_embeddings_are_mirror_invariant(flip_models):
    training_model, inference_model = flip_models
    images = random_images(4)
    outputs = training_model(images, training=False)
    mirrored_outputs = training_model(images[:, :, ::-1], training=False)
    for output, mirrored in zip(outputs, mirrored_outputs, strict=True):
        np.testing.assert_allclose(output.numpy(), mirrored.numpy(), atol=1e-5)
    # The mean the training model uses is the mean of the inference model's two embeddings.
    plain = inference_model(images, training=False)
    flipped = inference_model(images[:, :, ::-1], training=False)
    for index in range(3):
        np.testing.assert_allclose(
            outputs[index].numpy(), (plain[index] + flipped[index]) / 2, atol=1e-5
        )


def test_flipping_loss_matches_reference_and_is_zero_for_symmetric_images(flip_models):
    training_model, inference_model = flip_models
    applications.compile_training_model(training_model)
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    images = random_images(5)
    plain = [e.numpy() for e in inference_model(images, training=False)]
    flipped = [e.numpy() for e in inference_model(images[:, :, ::-1], training=False)]
    expected = sum(((a - b) ** 2).mean() for a, b in zip(plain, flipped, strict=True))
    assert expected > 0
    logs = training_model.test_on_batch(images, targets(training_model, labels), return_dict=True)
    assert logs["flipping"] == pytest.approx(expected, rel=1e-4)
    symmetric = (images + images[:, :, ::-1]) / 2
    logs = training_model.test_on_batch(
        symmetric, targets(training_model, labels), return_dict=True
    )
    assert logs["flipping"] == pytest.approx(0.0, abs=1e-9)


def test_freezing_stops_and_unfreezing_restarts_backbone_updates(flip_models):
    training_model, _ = flip_models
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    images, batch_targets = random_images(6), targets(training_model, labels)
    stage = training_model.get_layer("regional_stage")
    head = training_model.get_layer("global_classifier")

    applications.set_backbone_trainable(training_model, False)
    applications.compile_training_model(training_model, learning_rate=1e-3)
    stage_before = [w.numpy().copy() for w in stage.weights]
    head_before = head.kernel.numpy().copy()
    training_model.train_on_batch(images, batch_targets)
    assert all(
        np.array_equal(a, w.numpy()) for a, w in zip(stage_before, stage.weights, strict=True)
    )
    assert not np.array_equal(head_before, head.kernel.numpy())

    applications.set_backbone_trainable(training_model, True)
    applications.compile_training_model(training_model, learning_rate=1e-3)
    training_model.train_on_batch(images, batch_targets)
    changed = [
        not np.array_equal(a, w.numpy()) for a, w in zip(stage_before, stage.weights, strict=True)
    ]
    assert any(changed)


def test_batch_normalization_learns_from_the_image_then_its_mirror():
    """The 2021 release's training model calls its inference model on the image, then on the
    mirror, so each BatchNormalization layer of the network updates its moving statistics
    with the image's batch first. Reference: the two calls made one after the other on the
    same starting weights. The order matters with momentum below 1 (the other order is far
    from ours), so this fails if the mirror's pass runs first."""
    keras.utils.set_random_seed(1)
    training_model, inference_model = build()
    applications.compile_training_model(
        training_model, optimizer=keras.optimizers.SGD(learning_rate=0.0)
    )
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    images = random_images(11)
    start = [variable.numpy() for variable in inference_model.weights]
    statistics = [v for v in inference_model.non_trainable_weights if "moving" in v.name]
    assert len(statistics) > 40  # every BatchNormalization layer of trunk and branches

    def after(first, second):
        for variable, value in zip(inference_model.weights, start, strict=True):
            variable.assign(value)
        inference_model(first, training=True)
        inference_model(second, training=True)
        return [variable.numpy() for variable in statistics]

    image_then_mirror = after(images, images[:, :, ::-1])
    mirror_then_image = after(images[:, :, ::-1], images)
    for variable, value in zip(inference_model.weights, start, strict=True):
        variable.assign(value)
    training_model.train_on_batch(images, targets(training_model, labels))
    ours = [variable.numpy() for variable in statistics]
    for got, expected in zip(ours, image_then_mirror, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    order_gap = max(
        np.abs(a - b).max() for a, b in zip(image_then_mirror, mirror_then_image, strict=True)
    )
    assert order_gap > 1e-3


def test_training_steps_lower_the_loss_on_a_fixed_batch(flip_models):
    training_model, _ = flip_models
    applications.set_backbone_trainable(training_model, True)
    applications.compile_training_model(training_model, learning_rate=1e-3)
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    images, batch_targets = random_images(7), targets(training_model, labels)
    losses = [
        training_model.train_on_batch(images, batch_targets, return_dict=True)["loss"]
        for _ in range(5)
    ]
    assert losses[-1] < losses[0]


def test_weights_inference_model_and_saved_model_round_trip(flip_models, tmp_path):
    training_model, inference_model = flip_models
    images = random_images(8, count=3)
    expected = [e.numpy() for e in inference_model(images, training=False)]

    weights_path = str(tmp_path / "training.h5")
    applications.set_backbone_trainable(training_model, False)  # saved during the frozen phase
    applications.save_weights_atomically(training_model, weights_path)
    applications.set_backbone_trainable(training_model, True)
    assert os.listdir(tmp_path) == ["training.h5"]  # no temporary file left behind
    rebuilt_training, rebuilt_inference = build()
    applications.load_weights(rebuilt_training, weights_path)  # loaded unfrozen
    for a, b in zip(expected, rebuilt_inference(images, training=False), strict=True):
        np.testing.assert_allclose(a, b.numpy(), atol=1e-6)

    inference_path = str(tmp_path / "inference_model.h5")
    applications.save_inference_model(
        inference_model, inference_path, settings=FLIP_SETTINGS, class_num=CLASS_NUM
    )
    loaded = applications.load_inference_model(inference_path)
    for a, b in zip(expected, loaded(images, training=False), strict=True):
        np.testing.assert_allclose(a, b.numpy(), atol=1e-6)

    export_path = str(tmp_path / "saved_model")
    applications.export_saved_model(inference_model, export_path)
    served = tf.saved_model.load(export_path).signatures["serving_default"](tf.constant(images))
    np.testing.assert_allclose(
        served["embeddings"].numpy(), np.concatenate(expected, axis=1), atol=1e-5
    )
    with pytest.raises(FileExistsError):
        applications.export_saved_model(inference_model, export_path)


def test_unknown_backbone_and_unreadable_weights_are_explained(tmp_path):
    with pytest.raises(load_backbones.BackboneError, match="Unknown backbone_model_name 'resnet5'"):
        load_backbones.build_backbone_blocks("resnet5", image_size=(64, 32))
    broken = tmp_path / "resnet18.tf2.h5"
    broken.write_bytes(b"not an h5 file")
    with pytest.raises(load_backbones.BackboneError) as error:
        build(pretrained_backbone_weights_file_path=str(broken), use_pretrained_backbone=True)
    assert str(broken) in str(error.value) and "--nouse_pretrained_backbone" in str(error.value)


def test_failed_download_says_which_file_and_where(tmp_path, monkeypatch):
    import requests

    def refuse(*args, **kwargs):
        raise requests.ConnectionError("no network")

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(requests, "get", refuse)
    with pytest.raises(load_backbones.BackboneError) as error:
        load_backbones.cached_weights_file_path("resnet18")
    message = str(error.value)
    assert "resnet18-0870-e1d3f22e.tf2.h5" in message
    assert str(tmp_path / ".tensorflow" / "models") in message
    assert "--pretrained_backbone_weights_file_path" in message
    assert "--nouse_pretrained_backbone" in message
    assert not os.path.exists(tmp_path / ".tensorflow" / "models" / "resnet18-0870-e1d3f22e.tf2.h5")


@pytest.mark.slow
def test_paper_backbones_at_384x128():
    """The last feature map is 24x8 (last stride 1); embeddings 2048 + 1024 + 1024."""
    expected_backbone_parameters = {
        "resnet50": 23_561_152,
        "ibn_resnet50": 23_558_912,
        "resnesta50": 25_498_816,
    }
    for name, parameter_count in expected_backbone_parameters.items():
        blocks = load_backbones.build_backbone_blocks(name, image_size=(384, 128))
        feature_map = tf.zeros((1, 384, 128, 3))
        for block in blocks:
            feature_map = block(feature_map, training=False)
        assert feature_map.shape == (1, 24, 8, 2048), name
        assert sum(block.count_params() for block in blocks) == parameter_count, name
        _, inference_model = applications.init_model(
            ModelSettings(backbone_model_name=name, use_horizontal_flipping_inside_model=True),
            class_num=10,
            use_pretrained_backbone=False,
        )
        assert [output.shape[-1] for output in inference_model.outputs] == [2048, 1024, 1024], name
        embeddings = inference_model(np.zeros((1, 384, 128, 3), np.float32), training=False)
        assert all(np.isfinite(e.numpy()).all() for e in embeddings), name
        keras.backend.clear_session()


BLOCK_NAMES = ("stem", "stage1", "stage2", "stage3", "global_stage", "regional_stage")


def h5_weight_layout(file_path) -> dict[str, list[str]]:
    """{layer: ["<weight key> <shape>", ...]} for each layer with weights of a weights file, in
    the file's order; the backbone's weight names reduced to their key (dropping the repeated
    path elements that Keras 2 wrote and the leading "features"), written out plainly here."""
    import h5py

    layout = {}
    with h5py.File(file_path, "r") as weights_file:
        for layer_name in weights_file.attrs["layer_names"]:
            layer_name = layer_name.decode() if isinstance(layer_name, bytes) else layer_name
            group = weights_file[layer_name]
            lines = []
            for name in group.attrs["weight_names"]:
                name = name.decode() if isinstance(name, bytes) else name
                lines.append(f"{key_of(layer_name, name)} {tuple(group[name].shape)}")
            if lines:
                layout[layer_name] = lines
    return layout


def key_of(layer_name: str, weight_name: str) -> str:
    elements = weight_name.removesuffix(":0").split("/")
    if layer_name not in BLOCK_NAMES:
        return elements[-1]
    kept = [e for index, e in enumerate(elements) if index == 0 or e != elements[index - 1]]
    return "/".join(kept[1:] if kept[0] == "features" else kept)


def recorded_layout(fixture_name: str) -> dict[str, list[str]]:
    """A layout recorded from the Keras 2 versions' files ("layer <name> <count>", then "  <weight
    name> <shape>" lines), keyed as h5_weight_layout keys a file."""
    layout, layer_name = {}, None
    with open(os.path.join(FIXTURES, fixture_name)) as file:
        for line in file:
            if line.startswith("layer "):
                layer_name = line.split()[1]
            else:
                name, shape = line.strip().split(" ", 1)
                layout.setdefault(layer_name, []).append(f"{key_of(layer_name, name)} {shape}")
    return layout


@pytest.mark.parametrize("use_flipping", [True, False])
def test_weights_files_hold_what_the_keras2_versions_files_held(use_flipping, tmp_path):
    """Fixtures recorded from the Keras 2 versions' files (commit b6ed86d; resnet18, 64x32, 10
    classes): this version's files hold the same layers, and in each the same weights (by key:
    the Keras 2 names without their repeated elements) with the same shapes, so that a file of
    either version loads into the other's network by name. (Not in the same order within a
    block: Keras 3 orders a functional block's layers by the graph, e.g. a unit's shortcut
    convolution before its body's second one; nothing here reads weights by position.)"""
    settings = dataclasses.replace(FLIP_SETTINGS, use_horizontal_flipping_inside_model=use_flipping)
    training_model, inference_model = applications.init_model(
        settings,
        class_num=10,
        use_pretrained_backbone=False,
        regularization=RegularizationSettings(),
    )
    applications.set_backbone_trainable(training_model, False)  # as in the frozen phase
    applications.save_weights_atomically(training_model, str(tmp_path / "training.h5"))
    applications.save_weights_atomically(inference_model, str(tmp_path / "inference.h5"))
    suffix = "flip" if use_flipping else "noflip"
    expected = recorded_layout(f"h5_layout_resnet18_64x32_training_{suffix}.txt")
    found = h5_weight_layout(tmp_path / "training.h5")
    assert sorted(found) == sorted(expected)
    for layer_name, lines in expected.items():
        assert sorted(found[layer_name]) == sorted(lines), layer_name
    expected = recorded_layout("h5_layout_resnet18_64x32_inference.txt")
    found = h5_weight_layout(tmp_path / "inference.h5")
    assert {name: sorted(lines) for name, lines in found.items()} == {
        name: sorted(lines) for name, lines in expected.items()
    }


def test_inference_model_description_of_the_earlier_format_still_loads(tmp_path):
    earlier = {
        "backbone_model_name": "resnet18",
        "input_shape": [64, 32, 3],
        "class_num": 7,
        "region_num": 2,
        "pooling_mode": "GeM",
        "min_value": 0.0,
        "max_value": 1.0,
        "use_horizontal_flipping": True,
    }
    (tmp_path / "old.json").write_text(json.dumps(earlier))
    settings, class_num = applications.read_inference_model_description(str(tmp_path / "old.json"))
    assert settings == FLIP_SETTINGS and class_num == 7


def test_feature_map_height_formula_matches_the_backbone():
    for height in (1, 15, 16, 17, 33, 64, 100):
        blocks = load_backbones.build_backbone_blocks("resnet18", image_size=(height, 32))
        assert blocks[-1].output.shape[1] == load_backbones.feature_map_height(height), height
