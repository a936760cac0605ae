"""keras-hub's backbones inside FlipReID (load_backbones/keras_hub_family.py), against keras-hub's
own models, its presets' published numbers and NumPy references written here; nothing is
downloaded.

Most tests build tiny configurations of the same keras-hub classes (TINY_CONFIGS, put in place of
the table's with tiny_architectures(): two or three layers, 32 channels, the real patch sizes);
the real DINOv2 ViT-S/14 is built at 56x28 (a 4 x 2 patch grid), the real configurations'
parameter counts are checked against keras-hub's preset metadata, and solution.py trains
dinov2_small end to end.
"""

import contextlib
import dataclasses
import os
import re
import subprocess
import sys

import keras
import keras_hub
import numpy as np
import pytest
from conftest import (
    REPOSITORY,
    assert_identical,
    quiet_environment,
    run_solution,
    synthetic_dataset_flags,
)

import applications
from applications.h5_weights import read_h5_weights
from load_backbones import KERAS_HUB_ARCHITECTURES, BackboneError
from settings import (
    ModelSettings,
    RegularizationSettings,
    SettingsError,
    feature_map_height,
    feature_map_width,
)

CLASS_NUM = 4
# The presets' image converters, as published: DINOv2's and timm's ResNet-50's are ImageNet's;
# CLIP's are OpenAI's (openai/clip-vit-base-patch16 preprocessor_config.json).
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
CLIP = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
NORMALISATION = {
    "dinov2_small": IMAGENET,
    "dinov2_base": IMAGENET,
    "clip_vit_base_patch16": CLIP,
    "resnet_50_imagenet": IMAGENET,
}
TINY_CONFIGS = {
    "dinov2_small": dict(
        patch_size=14,
        num_layers=3,
        hidden_dim=32,
        num_heads=2,
        intermediate_dim=64,
        layer_scale_init_value=1.0,
        num_register_tokens=0,
        use_swiglu_ffn=False,
        image_shape=(70, 70, 3),
        position_embedding_shape=(70, 70),  # a 5 x 5 grid, interpolated to others
        antialias_in_interpolation=False,
    ),
    "clip_vit_base_patch16": dict(
        patch_size=16,
        hidden_dim=32,
        num_layers=3,
        num_heads=2,
        intermediate_dim=64,
        intermediate_activation="quick_gelu",
        image_shape=(48, 48, 3),  # a 3 x 3 grid
    ),
    "resnet_50_imagenet": dict(
        input_conv_filters=[16],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 16, 16, 16],
        stackwise_num_blocks=[1, 1, 2, 1],
        stackwise_num_strides=[1, 2, 2, 2],
        block_type="bottleneck_block",
        use_pre_activation=False,
    ),
}


@contextlib.contextmanager
def tiny_architectures(**changes):
    """The table's architectures replaced by TINY_CONFIGS (their entries updated by changes, e.g.
    dinov2_small={"num_register_tokens": 2}) inside the block."""
    with pytest.MonkeyPatch.context() as patch:
        for name, config in TINY_CONFIGS.items():
            tiny = dataclasses.replace(
                KERAS_HUB_ARCHITECTURES[name], config={**config, **changes.get(name, {})}
            )
            patch.setitem(KERAS_HUB_ARCHITECTURES, name, tiny)
        yield


def settings_of(name, *, height=56, width=28, **options):
    return ModelSettings(
        backbone_model_name=name,
        image_height=height,
        image_width=width,
        use_horizontal_flipping_inside_model=True,
        **options,
    )


def build(settings, **options):
    options = {"use_pretrained_backbone": False, **options}
    return applications.init_model(settings, class_num=CLASS_NUM, **options)


def random_images(seed, shape=(56, 28), count=4):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, (count, *shape, 3)).astype(np.float32)


def normalised(images, name):
    mean, std = NORMALISATION[name]
    return ((images / 255.0 - np.array(mean)) / np.array(std)).astype(np.float32)


def tiny_keras_hub_model(name, **changes):
    """keras-hub's own model of the tiny configuration, random weights (CLIP: the whole CLIP,
    as its presets are, with position_ids 0..N as in the presets)."""
    config = {**TINY_CONFIGS[name], **changes}
    if name == "dinov2_small":
        return keras_hub.models.DINOV2Backbone(**config)
    if name == "resnet_50_imagenet":
        return keras_hub.models.ResNetBackbone(**config)
    vision = keras_hub.models.CLIPVisionEncoder(**config)
    positions = vision.embedding.position_ids
    positions.assign(np.arange(positions.shape[1])[None])
    text = keras_hub.models.CLIPTextEncoder(
        vocabulary_size=50,
        embedding_dim=16,
        hidden_dim=16,
        num_layers=1,
        num_heads=2,
        intermediate_dim=32,
        max_sequence_length=8,
    )
    return keras_hub.models.CLIPBackbone(vision, text, projection_dim=8)


# --- The architectures: the presets' published numbers -----------------------------------------


def test_the_tables_architectures_have_the_presets_parameter_counts():
    """Each table entry, built by keras-hub, has the parameter count keras-hub publishes for the
    preset (its metadata); CLIP's preset is the whole CLIP, so its text encoder is added here
    from openai/clip-vit-base-patch16's text_config (vocab 49408, width 512, 12 layers, 8 heads,
    2048, 77 positions; projection 512)."""
    for name, architecture in KERAS_HUB_ARCHITECTURES.items():
        backbone_class = {
            "dinov2": keras_hub.models.DINOV2Backbone,
            "clip": keras_hub.models.CLIPVisionEncoder,
            "resnet": keras_hub.models.ResNetBackbone,
        }[architecture.family]
        backbone = backbone_class(**architecture.config)
        if architecture.family == "clip":
            text = keras_hub.models.CLIPTextEncoder(
                vocabulary_size=49408,
                embedding_dim=512,
                hidden_dim=512,
                num_layers=12,
                num_heads=8,
                intermediate_dim=2048,
                max_sequence_length=77,
            )
            backbone = keras_hub.models.CLIPBackbone(backbone, text, projection_dim=512)
        published = keras_hub.models.Backbone.presets[name]["metadata"]["params"]
        assert backbone.count_params() == published, name
        del backbone


def vit_parameter_count(*, width, depth, mlp, patch, positions):
    """A pre-norm ViT with layer scale (DINOv2), counted from its shapes: patch projection with
    bias, class token, position embeddings, per layer two norms, q/k/v/out projections, the MLP
    and two layer scales, and the final norm."""
    per_layer = 2 * 2 * width + 4 * (width * width + width) + 2 * width
    per_layer += width * mlp + mlp + mlp * width + width
    return (
        patch * patch * 3 * width
        + width
        + width
        + positions * width
        + depth * per_layer
        + 2 * width
    )


def test_dinov2_small_at_56x28_its_shapes_parameters_and_flip_invariance():
    """The real ViT-S/14 (384 wide, 12 layers, 6 heads): a 4 x 2 grid; its trunk and one last
    layer hold the ViT-S/14's parameters (21.5 M here, with 1 + 8 positions; 21 M in the
    DINOv2 paper, which counts its 37 x 37 positions), the regional copy 1.78 M more."""
    settings = settings_of("dinov2_small")
    keras.utils.set_random_seed(0)
    training_model, inference_model = build(settings)
    assert [tuple(output.shape) for output in inference_model.outputs] == [
        (None, 384),
        (None, 192),
        (None, 192),
    ]
    trunk = training_model.get_layer("trunk")
    global_block = training_model.get_layer("global_last_block")
    regional_block = training_model.get_layer("regional_last_block")
    assert trunk.output.shape[1:] == (1 + 4 * 2, 384)
    expected = vit_parameter_count(width=384, depth=12, mlp=1536, patch=14, positions=1 + 4 * 2)
    assert trunk.count_params() + global_block.count_params() == expected
    assert 21e6 < expected < 22e6
    assert regional_block.count_params() == global_block.count_params()
    images = random_images(1)
    outputs = training_model(images, training=False)
    mirrored = training_model(images[:, :, ::-1], training=False)
    for output, mirrored_output in zip(outputs[:3], mirrored[:3], strict=True):
        np.testing.assert_allclose(output.numpy(), mirrored_output.numpy(), atol=1e-5)


# --- Settings: the feature map each backbone gives ----------------------------------------------


@pytest.mark.parametrize(
    ("name", "heights"),
    [
        ("dinov2_small", (28, 56, 62, 69, 70)),
        ("clip_vit_base_patch16", (32, 47, 48, 64)),
        ("resnet_50_imagenet", (17, 33, 64, 65)),
    ],
)
def test_settings_know_the_rows_and_columns_of_each_backbone(name, heights):
    with tiny_architectures():
        for height in heights:
            settings = settings_of(name, height=height, width=height // 2 + 20)
            training_model, _ = build(settings)
            block_output = training_model.get_layer("regional_last_block").output
            if settings.is_vision_transformer:
                block_output = training_model.get_layer("patch_grid").output
            rows = feature_map_height(height, name)
            columns = feature_map_width(settings.image_width, name)
            assert tuple(block_output.shape[1:3]) == (rows, columns), (name, height)


def test_settings_refuse_what_cannot_work_and_name_the_flag():
    with pytest.raises(SettingsError, match="--region_num 2") as error:
        settings_of("dinov2_small", height=27)  # one 14-pixel row
    assert "--image_height of at least 28" in str(error.value)
    with pytest.raises(SettingsError, match="--image_width of at least 16"):
        settings_of("clip_vit_base_patch16", width=15)
    with pytest.raises(SettingsError, match="no class token"):
        settings_of("resnet_50_imagenet", global_feature="class_token")
    with pytest.raises(SettingsError, match="--pooling_mode Average or Max"):
        settings_of("dinov2_small", global_feature="pooled_feature_map")
    with pytest.raises(SettingsError, match="--global_feature must be one of"):
        settings_of("dinov2_small", global_feature="mean")
    settings_of("resnet_50_imagenet", height=17)  # 2 rows: ceil(17 / 16)


# --- The blocks compute keras-hub's model, from its preset folder -------------------------------


@pytest.mark.parametrize(
    ("name", "changes", "size"),
    [
        ("dinov2_small", {}, (56, 56)),  # keras-hub interpolates its 5 x 5 positions to 4 x 4
        ("dinov2_small", {"num_register_tokens": 2}, (70, 70)),
        ("clip_vit_base_patch16", {}, (48, 48)),  # keras-hub's CLIP does not interpolate
        ("resnet_50_imagenet", {}, (64, 32)),
    ],
)
def test_a_preset_folder_gives_the_blocks_keras_hubs_weights_and_outputs(
    name, changes, size, tmp_path
):
    """A preset folder written by keras-hub's save_to_preset, loaded through init_model: the
    trunk and either last block compute what keras-hub's model (loaded from the same folder, at
    the same size; the ResNet with its last stride 1) computes, to the bit; the preprocessing is
    the preset's; a run's training_model.h5 then loads into a model built without the preset."""
    keras.utils.set_random_seed(1)
    folder = str(tmp_path / "preset")
    tiny_keras_hub_model(name, **changes).save_to_preset(folder)
    images = random_images(2, shape=size)
    reference = keras_hub.models.Backbone.from_preset(folder, image_shape=(*size, 3))
    if name == "clip_vit_base_patch16":
        reference = reference.vision_encoder
    if name == "resnet_50_imagenet":
        reference = keras_hub.models.Backbone.from_preset(
            folder, image_shape=(*size, 3), stackwise_num_strides=[1, 2, 2, 1]
        )
    inputs = normalised(images, name)
    expected = np.asarray(reference(inputs if name == "resnet_50_imagenet" else {"images": inputs}))
    with tiny_architectures(**{name: changes}):
        settings = settings_of(name, height=size[0], width=size[1])
        training_model, inference_model = build(
            settings, use_pretrained_backbone=True, pretrained_backbone_weights_file_path=folder
        )
        preprocessing = training_model.get_layer("preprocessing")
        np.testing.assert_allclose(
            np.asarray(preprocessing(images)), normalised(images, name), rtol=0, atol=2e-6
        )
        trunk_output = training_model.get_layer("trunk")(normalised(images, name))
        for block_name in ("global_last_block", "regional_last_block"):
            found = np.asarray(training_model.get_layer(block_name)(trunk_output))
            assert_identical(found, expected, what=f"{name} {block_name}")

        weights_path = str(tmp_path / "training_model.h5")
        applications.save_weights_atomically(training_model, weights_path)
        rebuilt_training, rebuilt_inference = build(settings)
        applications.load_weights(rebuilt_training, weights_path)
        for found, wanted in zip(rebuilt_inference(images), inference_model(images), strict=True):
            assert_identical(np.asarray(found), np.asarray(wanted), what=f"{name} reloaded")


def bicubic_weights(in_size, out_size):
    """(out_size, in_size) weights of TensorFlow's bicubic resize without antialiasing
    (resize_bicubic_op.cc with half-pixel centres): Keys' kernel with a = -0.5 at the sample's
    offset rounded to 1/1024 (its table), taps outside the input dropped and the rest
    renormalised; one output at a time."""

    def keys(distance, a=-0.5):
        distance = abs(distance)
        if distance <= 1:
            return (a + 2) * distance**3 - (a + 3) * distance**2 + 1
        if distance < 2:
            return a * distance**3 - 5 * a * distance**2 + 8 * a * distance - 4 * a
        return 0.0

    weights = np.zeros((out_size, in_size))
    for output in range(out_size):
        centre = (output + 0.5) * in_size / out_size - 0.5
        first = int(np.floor(centre))
        offset = np.rint((centre - first) * 1024) / 1024
        for tap in range(first - 1, first + 3):
            if 0 <= tap < in_size:
                weights[output, tap] = keys(offset - (tap - first))
        weights[output] /= weights[output].sum()
    return weights


@pytest.mark.parametrize(
    ("size", "grid"), [((56, 28), (4, 2)), ((98, 42), (7, 3)), ((384, 128), (27, 9))]
)
def test_position_embeddings_are_interpolated_to_a_rows_by_columns_grid(size, grid, tmp_path):
    """From the preset's 5 x 5 grid to rows x cols, bicubically as keras-hub interpolates
    DINOv2's (checked against a NumPy bicubic), the class token's unchanged."""
    folder = str(tmp_path / "preset")
    keras.utils.set_random_seed(2)
    source = tiny_keras_hub_model("dinov2_small")
    source.save_to_preset(folder)
    table = np.asarray(source.embeddings.position_embeddings)
    with tiny_architectures():
        training_model, _ = build(
            settings_of("dinov2_small", height=size[0], width=size[1]),
            use_pretrained_backbone=True,
            pretrained_backbone_weights_file_path=folder,
        )
    tokens = training_model.get_layer("trunk").get_layer("patch_tokens")
    found = np.asarray(tokens.position_embedding)
    square = table[0, 1:].reshape(5, 5, -1).astype(np.float64)
    rows, columns = bicubic_weights(5, grid[0]), bicubic_weights(5, grid[1])
    expected = np.einsum("ri,cj,ijd->rcd", rows, columns, square).reshape(grid[0] * grid[1], -1)
    assert found.shape == (1, 1 + grid[0] * grid[1], 32)
    np.testing.assert_array_equal(found[0, 0], table[0, 0])
    np.testing.assert_allclose(found[0, 1:], expected, rtol=0, atol=1e-6)


def test_pixels_past_the_last_whole_patch_are_left_out():
    """At 62 x 30 (4 x 2 patches of 14 and a remainder of 6 and 2 pixels) the model computes
    what it computes on the image's top-left 56 x 28 pixels."""
    with tiny_architectures():
        keras.utils.set_random_seed(3)
        training_model, larger = build(settings_of("dinov2_small", height=62, width=30))
        _, smaller = build(settings_of("dinov2_small", height=56, width=28))
        smaller.set_weights(larger.get_weights())
    images = random_images(4, shape=(62, 30))
    for found, expected in zip(larger(images), smaller(images[:, :56, :28]), strict=True):
        assert_identical(np.asarray(found), np.asarray(expected), what="the 62 x 30 model")


# --- The FlipReID structure on a ViT ------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_dinov2():
    with tiny_architectures():
        keras.utils.set_random_seed(4)
        return build(settings_of("dinov2_small"))


@pytest.mark.parametrize("name", ["dinov2_small", "clip_vit_base_patch16", "resnet_50_imagenet"])
def test_flip_averaged_embeddings_are_mirror_invariant(name):
    with tiny_architectures():
        keras.utils.set_random_seed(5)
        training_model, inference_model = build(settings_of(name, height=64, width=32))
    images = random_images(6, shape=(64, 32))
    outputs = training_model(images, training=False)
    mirrored_outputs = training_model(images[:, :, ::-1], training=False)
    for output, mirrored in zip(outputs, mirrored_outputs, strict=True):
        np.testing.assert_allclose(output.numpy(), mirrored.numpy(), atol=1e-5)
    plain = inference_model(images, training=False)
    flipped = inference_model(images[:, :, ::-1], training=False)
    assert not np.allclose(plain[0], flipped[0], atol=1e-3)  # the mirror matters before the mean
    for index in range(3):
        np.testing.assert_allclose(
            outputs[index].numpy(), (plain[index] + flipped[index]) / 2, atol=1e-5
        )


def test_the_global_embedding_is_the_unclipped_class_token_the_regions_are_clipped(tiny_dinov2):
    training_model, inference_model = tiny_dinov2
    images = random_images(7)
    global_embedding, *regions = [np.asarray(e) for e in inference_model(images)]
    trunk_output = training_model.get_layer("trunk")(
        training_model.get_layer("preprocessing")(images)
    )
    tokens = np.asarray(training_model.get_layer("global_last_block")(trunk_output))
    assert_identical(global_embedding, tokens[:, 0], what="the global embedding")
    assert global_embedding.min() < 0 and global_embedding.max() > 1  # layer-normed: not clipped
    for region in regions:
        assert region.min() >= 0.0 and region.max() <= 1.0


def test_the_pooled_patch_grid_as_global_embedding(tmp_path):
    """--global_feature pooled_feature_map: the mean of the last block's patch tokens (class
    token left out), unclipped."""
    with tiny_architectures(dinov2_small={"num_register_tokens": 2}):
        keras.utils.set_random_seed(8)
        settings = settings_of(
            "dinov2_small", global_feature="pooled_feature_map", pooling_mode="Average"
        )
        training_model, inference_model = build(settings)
    images = random_images(9)
    trunk_output = training_model.get_layer("trunk")(
        training_model.get_layer("preprocessing")(images)
    )
    tokens = np.asarray(training_model.get_layer("global_last_block")(trunk_output))
    assert tokens.shape[1] == 1 + 2 + 4 * 2
    expected = tokens[:, 3:].mean(axis=1)
    np.testing.assert_allclose(np.asarray(inference_model(images)[0]), expected, atol=1e-6)
    assert expected.min() < 0


@pytest.mark.parametrize("name", ["dinov2_small", "clip_vit_base_patch16"])
def test_the_l2_penalty_reaches_every_kernel_bias_and_norm_of_a_vit(name):
    """The penalty of a ViT model is sum over kinds of factor * sum(w^2) over every weight of
    the model named kernel, bias, gamma or beta (its transformer layers', patch embedding's and
    layer norms' as well as FlipReID's own layers'), each weight once; not the tokens, the
    position embeddings, LayerScale or GeM powers."""
    factors = {"kernel": 1e-3, "bias": 2e-3, "gamma": 3e-3, "beta": 4e-3}
    with tiny_architectures():
        training_model, _ = applications.init_model(
            settings_of(name, height=64, width=32),
            class_num=4,
            use_pretrained_backbone=False,
            regularization=RegularizationSettings(*factors.values()),
        )
    expected, seen = 0.0, set()
    for weight in training_model.weights:
        if weight.name in factors and id(weight) not in seen:
            seen.add(id(weight))
            expected += factors[weight.name] * np.sum(np.square(weight.numpy().astype(np.float64)))
    counts = training_model.l2_penalty.counts
    assert sum(counts.values()) == len(seen), (counts, len(seen))
    assert counts["kernel"] > 6 * 2  # the transformer layers' q, k, v, output and MLP kernels
    found = float(training_model.l2_penalty.value())
    assert found == pytest.approx(expected, rel=1e-5)


def test_freezing_trains_nothing_of_the_backbone_then_unfreezing_does(tiny_dinov2):
    training_model, _ = tiny_dinov2
    blocks = applications.backbone_blocks(training_model)
    assert sorted(block.name for block in blocks) == [
        "global_last_block",
        "regional_last_block",
        "trunk",
    ]
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    images = random_images(10, count=8)
    one_hot = np.eye(CLASS_NUM, dtype=np.float32)[labels]
    targets = [
        labels if output.endswith("_embedding") else one_hot
        for output in training_model.output_names
    ]
    before = [[w.numpy().copy() for w in block.weights] for block in blocks]
    head_before = training_model.get_layer("global_classifier").kernel.numpy().copy()

    applications.set_backbone_trainable(training_model, False)
    backbone_variables = {id(w) for block in blocks for w in block.weights}
    assert not backbone_variables & {id(w) for w in training_model.trainable_variables}
    applications.compile_training_model(training_model, learning_rate=1e-3)
    training_model.train_on_batch(images, targets)
    for block, values in zip(blocks, before, strict=True):
        for value, weight in zip(values, block.weights, strict=True):
            assert np.array_equal(value, weight.numpy()), (block.name, weight.path)
    assert not np.array_equal(head_before, training_model.get_layer("global_classifier").kernel)

    applications.set_backbone_trainable(training_model, True)
    applications.compile_training_model(training_model, learning_rate=1e-3)
    training_model.train_on_batch(images, targets)
    for block, values in zip(blocks, before, strict=True):
        changed = [
            not np.array_equal(value, weight.numpy())
            for value, weight in zip(values, block.weights, strict=True)
        ]
        assert sum(changed) > len(changed) // 2, block.name


def test_saved_weights_and_inference_model_reload_to_the_same_features(tiny_dinov2, tmp_path):
    training_model, inference_model = tiny_dinov2
    images = random_images(11)
    expected = [np.asarray(e) for e in inference_model(images, training=False)]
    settings = settings_of("dinov2_small")
    with tiny_architectures():
        weights_path = str(tmp_path / "training_model.h5")
        applications.set_backbone_trainable(training_model, False)  # saved while frozen
        applications.save_weights_atomically(training_model, weights_path)
        applications.set_backbone_trainable(training_model, True)
        rebuilt_training, rebuilt_inference = build(settings)
        applications.load_weights(rebuilt_training, weights_path)
        for found, wanted in zip(rebuilt_inference(images), expected, strict=True):
            assert_identical(np.asarray(found), wanted, what="training_model.h5 reloaded")

        inference_path = str(tmp_path / "inference_model.h5")
        applications.save_inference_model(
            inference_model, inference_path, settings=settings, class_num=CLASS_NUM
        )
        assert applications.weights_file_kind(inference_path) == applications.INFERENCE
        assert applications.weights_file_kind(weights_path) == applications.TRAINING
        loaded = applications.load_inference_model(inference_path)
        for found, wanted in zip(loaded(images), expected, strict=True):
            assert_identical(np.asarray(found), wanted, what="inference_model.h5 reloaded")
    keys = read_h5_weights(weights_path)
    assert ("trunk", "transformer_layer1/mlp/fc1/kernel") in keys
    assert ("regional_last_block", "transformer_layer2/mlp/fc1/kernel") in keys


# --- Errors ---------------------------------------------------------------------------------------


def test_a_failed_download_says_which_flag_to_use(tmp_path, monkeypatch):
    import kagglehub
    import requests

    def refuse(*args, **kwargs):
        raise requests.ConnectionError("no network")

    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(kagglehub, "model_download", refuse)
    with tiny_architectures(), pytest.raises(BackboneError) as error:
        build(settings_of("dinov2_small"), use_pretrained_backbone=True)
    message = str(error.value)
    assert "--pretrained_backbone_weights_file_path" in message
    assert "--nouse_pretrained_backbone" in message
    assert str(tmp_path / "cache" / "models" / "keras" / "dinov2" / "keras" / "dinov2_small") in (
        message
    )


def test_a_wrong_preset_folder_is_explained(tmp_path):
    with tiny_architectures(), pytest.raises(BackboneError, match="not a keras-hub preset folder"):
        build(
            settings_of("dinov2_small"),
            use_pretrained_backbone=True,
            pretrained_backbone_weights_file_path=str(tmp_path),
        )
    folder = str(tmp_path / "resnet")
    tiny_keras_hub_model("resnet_50_imagenet").save_to_preset(folder)
    with tiny_architectures(), pytest.raises(BackboneError, match="needs a DINOV2Backbone"):
        build(
            settings_of("dinov2_small"),
            use_pretrained_backbone=True,
            pretrained_backbone_weights_file_path=folder,
        )
    wider = str(tmp_path / "wider")
    tiny_keras_hub_model("dinov2_small", hidden_dim=48, num_heads=3).save_to_preset(wider)
    with tiny_architectures(), pytest.raises(BackboneError, match="hidden_dim 48"):
        build(
            settings_of("dinov2_small"),
            use_pretrained_backbone=True,
            pretrained_backbone_weights_file_path=wider,
        )


# --- The program: JAX, and solution.py end to end -----------------------------------------------


@pytest.mark.slow
def test_the_inference_model_gives_the_same_features_on_jax(tmp_path):
    """dinov2_small (the real ViT-S/14 at 56x28) saved on TensorFlow, read in a KERAS_BACKEND=jax
    child (tests/jax_features.py): the same embeddings and training-mode outputs."""
    settings = settings_of("dinov2_small")
    keras.utils.set_random_seed(12)
    training_model, inference_model = build(settings)
    folder = str(tmp_path)
    images = random_images(13)
    np.save(os.path.join(folder, "images.npy"), images)
    applications.save_weights_atomically(training_model, os.path.join(folder, "training_model.h5"))
    applications.save_inference_model(
        inference_model,
        os.path.join(folder, "inference_model.h5"),
        settings=settings,
        class_num=CLASS_NUM,
    )
    child = subprocess.run(
        [sys.executable, "tests/jax_features.py", folder],
        cwd=REPOSITORY,
        env=quiet_environment(KERAS_BACKEND="jax", PYTHONPATH=REPOSITORY),
        capture_output=True,
        text=True,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    found = dict(np.load(os.path.join(folder, "jax.npz")))
    references = {
        f"inference/{index}": np.asarray(embedding)
        for index, embedding in enumerate(inference_model(images, training=False))
    }
    for index, output in enumerate(training_model(images, training=True)):
        references[f"training/{index}"] = np.asarray(output)
    differences = {
        key: float(np.abs(found[key] - reference).max() / np.abs(reference).max())
        for key, reference in references.items()
    }
    print("largest relative differences, JAX against TensorFlow:", differences)
    assert max(differences.values()) < 1e-4, differences


END_TO_END = [
    *synthetic_dataset_flags(),
    "--backbone_model_name",
    "dinov2_small",
    "--nouse_pretrained_backbone",
    "--image_height",
    "56",
    "--image_width",
    "28",
    "--identity_num_per_batch",
    "4",
    "--image_num_per_identity",
    "2",
    "--freeze_backbone_for_N_epochs",
    "1",
    "--epoch_num",
    "1",
    "--steps_per_epoch",
    "3",
    "--evaluate_testing_every_N_epochs",
    "1",
    "--use_horizontal_flipping_inside_model",
    "--learning_rate_mode",
    "constant",
    "--learning_rate_start",
    "1e-4",
    "--learning_rate_end",
    "1e-4",
    "--workers",
    "2",
]


@pytest.mark.slow
def test_solution_trains_dinov2_small_and_a_stopped_run_resumes_to_the_same_model(tmp_path):
    """Trained end to end (a frozen epoch, a whole-model one): it prints the test mAP of each.
    The same run stopped by SIGTERM in the middle of its whole-model epoch and started again
    ends with the same inference model, to the bit."""
    root = str(tmp_path / "data")
    arguments = [*END_TO_END, "--root_folder_path", root]
    status, output = run_solution([*arguments, "--output_folder_path", str(tmp_path / "whole")])
    assert status == 0, output[-3000:]
    maps = [float(found) for found in re.findall(r"test_mAP ([0-9.]+)%", output)]
    assert len(maps) == 2 and all(0 < value <= 100 for value in maps), output[-3000:]

    stopped = [*arguments, "--output_folder_path", str(tmp_path / "stopped")]
    environment = quiet_environment(FLIPREID_CRASH_AT="train step begins:5:SIGTERM")
    status, output = run_solution(stopped, environment=environment)
    assert status == 143, output[-3000:]
    status, output = run_solution(stopped)
    assert status == 0 and "Resuming from" in output, output[-3000:]
    found = read_h5_weights(
        str(tmp_path / "stopped" / "Synthetic_dinov2_small" / "inference_model.h5")
    )
    expected = read_h5_weights(
        str(tmp_path / "whole" / "Synthetic_dinov2_small" / "inference_model.h5")
    )
    assert found.keys() == expected.keys()
    for key, value in expected.items():
        assert_identical(found[key], value, what=f"inference_model.h5 {key}")
