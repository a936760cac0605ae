"""Checkpoints of the 2021 release load into this project's network and compute the same
function (the fixture rebuilds the release's structure: tests/release_2021_fixture.py).

Two Keras in one process: the release's models are Keras 2 (tf.keras is tf_keras, selected by
keras2_reference before anything reads tf.keras), this project's are Keras 3 (`keras`)."""

import keras2_reference  # noqa: I001  (first: tf.keras must be Keras 2 for the fixture)

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import evaluate_concurrently, seed_evaluation_command
from release_2021_fixture import (
    build_release_2021_training_model,
    compile_like_release_2021,
    release_last_stage,
    save_like_model_checkpoint,
)

import applications
from applications import WeightsFileError
from datasets import generate_synthetic_dataset
from load_backbones import build_stage
from settings import ModelSettings, RegularizationSettings, SyntheticSettings


def release_checkpoint(folder, backbone_model_name, *, input_shape, class_num, max_value):
    training_model, inference_model, branch_weights = build_release_2021_training_model(
        backbone_model_name, input_shape=input_shape, class_num=class_num, max_value=max_value
    )
    file_path = str(folder / f"{backbone_model_name}_2021.h5")
    save_like_model_checkpoint(training_model, branch_weights, file_path)
    return training_model, inference_model, file_path


def check_same_function(backbone_model_name, tmp_path):
    # A wide clipping range keeps the embeddings from saturating at 1, so that a misplaced
    # weight cannot hide behind the clip.
    release_training, release_inference, file_path = release_checkpoint(
        tmp_path, backbone_model_name, input_shape=(64, 32, 3), class_num=5, max_value=1e4
    )
    assert applications.weights_file_kind(file_path) == applications.RELEASE_2021
    settings = ModelSettings(
        backbone_model_name=backbone_model_name,
        image_height=64,
        image_width=32,
        max_value=1e4,
        use_horizontal_flipping_inside_model=True,
    )
    training_model, inference_model = applications.init_model(
        settings, class_num=5, use_pretrained_backbone=False
    )
    assert applications.load_weights_file(training_model, inference_model, file_path) == (
        applications.RELEASE_2021,
        False,  # the heads fit: none left out
    )
    description = applications.describe_model_file(file_path)  # read from its structure
    assert description.values == {"region_num": 2, "pooling_mode": "GeM"}
    assert description.class_num == 5
    images = np.random.default_rng(1).uniform(0, 255, (4, 64, 32, 3)).astype(np.float32)
    # Bit for bit: both run the same TensorFlow operations on the same numbers (measured equal
    # for all four backbones, every output; a misplaced weight changes most of them).
    expected = release_inference(images, training=False)
    found = inference_model(images, training=False)
    assert len(found) == 3
    for index, (a, b) in enumerate(zip(expected, found, strict=True)):  # global, then stripes
        assert np.abs(a.numpy()).max() > 1e-3 and (a.numpy() < 1e4).all()
        assert_same(b, a, what=f"{backbone_model_name}: embedding {index}")
    # Flip-averaged embeddings and the heads' probabilities, through the training models.
    expected = release_training(images, training=False)
    found = training_model(images, training=False)
    for name, a, b in zip(training_model.output_names, expected, found, strict=True):
        assert_same(b, a, what=f"{backbone_model_name}: training output {name}")
    clear_sessions()


def assert_same(found, expected, *, what: str) -> None:
    found, expected = np.asarray(found), np.asarray(expected)
    assert found.shape == expected.shape, (what, found.shape, expected.shape)
    differing = np.argwhere(found != expected)
    first = tuple(int(i) for i in differing[0]) if len(differing) else ()
    assert not len(differing), (
        f"{what}: {len(differing)} of {found.size} values differ, the first at {first}: "
        f"ours {found[first]}, the release's {expected[first]}"
    )


def clear_sessions() -> None:
    tf.keras.backend.clear_session()  # the release's Keras 2 models
    keras.backend.clear_session()  # this project's


def test_a_2021_resnet18_checkpoint_computes_the_same_embeddings(tmp_path):
    check_same_function("resnet18", tmp_path)


@pytest.mark.slow
def test_2021_checkpoints_of_the_paper_backbones_compute_the_same_embeddings(tmp_path):
    for backbone_model_name in ("resnet50", "ibn_resnet50", "resnesta50"):
        check_same_function(backbone_model_name, tmp_path)


def place_by_tf2cv_path(stage: keras.Model, release_stage) -> None:
    """Give a Keras 3 stage the release stage's weights: a layer of ours is named by its tf2cv
    path with "." (unit1.body.conv1.conv.conv), the release's variable by the same path with
    "/" and its own unit names (stage4/unit_3_1/body/conv1/conv/conv/kernel:0)."""
    ours = {
        f"{layer.name}/{variable.name}": variable
        for layer in stage.layers
        for variable in layer.weights
    }
    placed = set()
    for variable in release_stage.weights:
        elements = variable.name.split(":")[0].split("/")
        unit_index = next(i for i, e in enumerate(elements) if e.startswith("unit_"))
        unit = f"unit{elements[unit_index].rsplit('_', 1)[1]}"
        *layer_path, variable_name = [unit, *elements[unit_index + 1 :]]
        name = f"{'.'.join(layer_path)}/{variable_name}"
        ours[name].assign(variable.numpy())
        placed.add(name)
    assert placed == set(ours), sorted(set(ours) - placed)[:3]


@pytest.mark.parametrize(
    "backbone_model_name", ["resnet18", "resnet50", "ibn_resnet50", "resnesta50"]
)
def test_the_last_stage_computes_the_2021_release_function(backbone_model_name):
    """The last stage as this program builds it (Keras 3, stride 1), and as the Keras 2 program
    did (tf2cv's, built with stride 2, then made stride 1; the tests' reference), against the
    release's, built with stride 1 from the start by the fixture, at the same weights: the same
    outputs, exactly (the same TensorFlow operations on the same numbers). For resnesta50 a 3x3
    average pool left in the first unit's body would differ by up to the whole range of the
    values."""
    release = release_last_stage(backbone_model_name)
    rng = np.random.default_rng(0)
    release.set_weights(
        [w * rng.uniform(0.5, 1.5, w.shape).astype(np.float32) for w in release.get_weights()]
    )
    channels = release.get_weights()[0].shape[2]  # the first convolution's input channels
    feature_map = rng.uniform(0, 2, (2, 6, 3, channels)).astype(np.float32)
    expected = release(feature_map, training=False).numpy()
    ours = build_stage(backbone_model_name, 3, input_shape=(6, 3, channels), name="stage4")
    place_by_tf2cv_path(ours, release)
    reference = keras2_reference.load_backbone(backbone_model_name, use_pretrained_backbone=False)
    reference = reference[-1]
    assert len(reference.get_weights()) == len(release.get_weights())
    reference.set_weights(release.get_weights())  # tf2cv's order on both sides
    for program, stage in (("Keras 3", ours), ("Keras 2 reference", reference)):
        found = np.asarray(stage(feature_map, training=False))
        assert found.shape == (2, 6, 3, expected.shape[-1])
        assert_same(found, expected, what=f"{backbone_model_name}, {program}'s last stage")
    clear_sessions()


def test_a_checkpoint_that_does_not_fit_is_refused_naming_a_weight(tmp_path):
    _, _, file_path = release_checkpoint(
        tmp_path, "resnet18", input_shape=(64, 32, 3), class_num=5, max_value=1.0
    )
    cases = {
        "other region count": (dict(region_num=3), 5, "this model 4: check --region_num"),
        "other backbone": (
            dict(backbone_model_name="resnet34"),
            5,
            "no weight for stage1/unit3/body/conv1/conv/kernel of this model's stage1",
        ),
    }
    for _case, (changes, class_num, message) in cases.items():
        settings = ModelSettings(
            **{"backbone_model_name": "resnet18", "image_height": 64, "image_width": 32, **changes}
        )
        training_model, inference_model = applications.init_model(
            settings, class_num=class_num, use_pretrained_backbone=False
        )
        with pytest.raises(WeightsFileError, match=message):  # the case's name says why
            applications.load_weights_file(training_model, inference_model, file_path)
    # Another number of identities: the heads are left out (evaluation on another dataset).
    settings = ModelSettings(backbone_model_name="resnet18", image_height=64, image_width=32)
    training_model, inference_model = applications.init_model(
        settings, class_num=7, use_pretrained_backbone=False
    )
    heads = [layer.get_weights() for layer in training_model.layers if "classifier" in layer.name]
    assert applications.load_weights_file(training_model, inference_model, file_path) == (
        applications.RELEASE_2021,
        True,
    )
    after = [layer.get_weights() for layer in training_model.layers if "classifier" in layer.name]
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(heads, after, strict=True))
    clear_sessions()


@pytest.mark.slow
def test_the_seed_evaluation_command_evaluates_a_2021_checkpoint(tmp_path):
    """The seed README's evaluation command, unchanged but for the paths (and the dataset
    root), on a ResNeSt50 checkpoint laid out as the release's, at the seed's 384x128, on a
    small generated Market1501 tree (4 training identities, 3 test identities)."""
    market_root = generate_synthetic_dataset(
        str(tmp_path / "data"),
        SyntheticSettings(
            synthetic_train_identity_num=4,
            synthetic_test_identity_num=3,
            synthetic_camera_num=2,
            synthetic_image_height=64,
            synthetic_image_width=32,
        ),
    )
    _, _, file_path = release_checkpoint(
        tmp_path, "resnesta50", input_shape=(384, 128, 3), class_num=4, max_value=1.0
    )
    clear_sessions()
    seed_command = [
        *seed_evaluation_command(
            weights_file_path=file_path, output_folder_path=str(tmp_path / "evaluation_only")
        ),
        "--backbone_model_name",
        "resnesta50",
    ]
    results = evaluate_concurrently(
        {"seed command": [*seed_command, "--root_folder_path", market_root]}
    )
    output, mean_average_precision = results["seed command"]
    assert "Loaded the 2021 release model weights" in output
    assert 0 < mean_average_precision <= 1
    # The numbers are kept in the evaluation's folder; nothing is written beside the checkpoint.
    assert (tmp_path / "evaluation_only" / "Market1501_resnesta50" / "results.csv").is_file()
    assert not list(tmp_path.glob("*_inference_model*"))


def test_a_training_step_changes_the_weights_as_the_2021_release_does(tmp_path):
    """From the same weights and batch, one SGD step of the release's structure (nested
    inference model called on the image, then on the mirror; its losses and L2 terms,
    back-propagated) and of this project's model (the L2 gradient added after
    back-propagation): the same losses, the same BatchNormalization statistics (their order
    matters) and the same updates of the trainable weights, to float32 rounding (measured 9e-5
    of the update's size; the statistics 5e-7). From the second step on the two drift apart by
    more (4% after two steps here): a last-bit difference can change a batch-hard triplet's
    hardest pair."""
    factor, class_num = 5e-4, 5
    release_training, _, branch_weights = build_release_2021_training_model(
        "resnet18", input_shape=(64, 32, 3), class_num=class_num, seed=3
    )
    start_path, end_path = str(tmp_path / "start.h5"), str(tmp_path / "end.h5")
    save_like_model_checkpoint(release_training, branch_weights, start_path)
    regularized = compile_like_release_2021(
        release_training,
        regularization_factor=factor,
        optimizer=tf.keras.optimizers.SGD(learning_rate=0.01),
    )
    settings = ModelSettings(
        backbone_model_name="resnet18",
        image_height=64,
        image_width=32,
        use_horizontal_flipping_inside_model=True,
    )

    def our_model(file_path):
        training_model, inference_model = applications.init_model(
            settings,
            class_num=class_num,
            use_pretrained_backbone=False,
            regularization=RegularizationSettings(factor, factor, factor, factor),
        )
        applications.load_weights_file(training_model, inference_model, file_path)
        return training_model

    ours, start = our_model(start_path), our_model(start_path)
    images = np.random.default_rng(3).uniform(0, 255, (8, 64, 32, 3)).astype(np.float32)
    ours(images, training=False)  # Keras 3 collects a model's losses when it is called
    assert len(ours.losses) == 1  # the flipping loss; the L2 terms are the training step's
    assert sum(ours.l2_penalty.counts.values()) > 0
    applications.compile_training_model(ours, optimizer=keras.optimizers.SGD(learning_rate=0.01))
    labels = np.repeat(np.arange(4), 2)
    one_hot = np.eye(class_num, dtype=np.float32)[labels]
    our_targets = [labels if n.endswith("_embedding") else one_hot for n in ours.output_names]
    # rel 1e-5, one step (from the second on, batch-hard mining amplifies last bits): measured,
    # the loss equal and the flipping loss one float32 rounding (7e-8) apart, as this project
    # averages its squares in another order (over batch and channels at once, then one AddN).
    for tolerance in (1e-5,):
        expected = release_training.train_on_batch(images, [one_hot] * 6, return_dict=True)
        found = ours.train_on_batch(images, our_targets, return_dict=True)
        assert found["loss"] == pytest.approx(expected["loss"], rel=tolerance)
        assert found["flipping"] == pytest.approx(expected["flipping"], rel=tolerance)
    save_like_model_checkpoint(release_training, branch_weights, end_path)
    theirs = our_model(end_path)  # the release's weights after the steps, in our layout
    assert (
        regularized
        == sum(ours.l2_penalty.counts.values())
        == sum(
            "kernel" in v.name or "bias" in v.name or "gamma" in v.name or "beta" in v.name
            for v in ours.trainable_weights
        )
    )

    def relative_difference(statistics: bool) -> float:
        difference = update = 0.0
        for before, got, want in zip(start.weights, ours.weights, theirs.weights, strict=True):
            if ("moving" in before.name) != statistics:
                continue
            difference += float(np.sum((got.numpy() - want.numpy()) ** 2))
            update += float(np.sum((want.numpy() - before.numpy()) ** 2))
        assert update > 0
        return (difference / update) ** 0.5

    assert relative_difference(statistics=True) < 1e-3  # measured 5e-7
    assert relative_difference(statistics=False) < 1e-3  # measured 9e-5 (float32)
