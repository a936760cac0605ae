"""keras-hub's ViTs downstream (issue 39): exported to ONNX in each layout export.py offers, the
ONNX model (ONNX Runtime) against the Keras model computed plainly here, and search.py with both.

The exports of every layout are made in this process from tiny configurations of the same
keras-hub classes (tests/test_keras_hub_backbones.py's tiny_architectures: the real patch sizes,
activations and normalisations, 3 layers of 32 channels); export.py itself, and search.py after
it, run on the real dinov2_small at 56x28. The regional copy of the last block gets weights of
its own before export (as after training): tf2onnx merges identical subgraphs, so with the two
copies equal a fault in one would go unseen. The bound is export.py's own check: 1e-5 of the
largest embedding value.
"""

import json
import os
import re
import sys

import keras
import numpy as np
import onnxruntime
import pandas as pd
import pytest
from conftest import start_python, without_tensorflow
from test_keras_hub_backbones import build, settings_of, tiny_architectures

import applications
from applications import export

RELATIVE_BOUND = 1e-5  # export.py's: of the largest embedding value
# What BoxMOT's ONNX ReID backend feeds, whatever the model (its 25.0.0 release): ImageNet's.
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])
VIT_NAMES = ["dinov2_small", "clip_vit_base_patch16"]
HEIGHT, WIDTH = 64, 32


def tiny_model(name, seed=0):
    """The inference model of a tiny configuration of name at 64x32, the mirror inside."""
    with tiny_architectures():
        keras.utils.set_random_seed(seed)
        _, inference_model = build(settings_of(name, height=HEIGHT, width=WIDTH))
    return with_a_regional_block_of_its_own(inference_model, seed)


def with_a_regional_block_of_its_own(inference_model, seed):
    """The regional copy of the last block's weights each multiplied by 1 + 0.1 N(0, 1)."""
    rng = np.random.default_rng(seed)
    for weight in inference_model.get_layer("regional_last_block").weights:
        value = weight.numpy()
        weight.assign((value * (1 + 0.1 * rng.standard_normal(value.shape))).astype(value.dtype))
    return inference_model


def pixel_images(seed, count=5):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, (count, HEIGHT, WIDTH, 3)).astype(np.float32)


def keras_reference(model, images, *, flip_averaged):
    """The Keras model's concatenated embedding, eagerly, the mirror (images[:, :, ::-1]) in a
    call of its own."""

    def embed(pixels):
        return np.concatenate([np.asarray(o) for o in model(pixels, training=False)], axis=-1)

    if flip_averaged:
        return (embed(images) + embed(images[:, :, ::-1])) / 2
    return embed(images)


def tracker_batch(images):
    """(n, H, W, 3) 0..255 RGB -> (n, 3, H, W) as a tracker prepares a crop, in float64 here
    and written out independently of deployment.onnx_model.tracker_input."""
    return (
        ((images / 255.0 - IMAGENET_MEAN) / IMAGENET_STD).astype(np.float32).transpose(0, 3, 1, 2)
    )


def run_onnx(path, inputs):
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    (found,) = session.run(None, {session.get_inputs()[0].name: inputs})
    return found


def assert_within_bound(found, expected):
    assert found.shape == expected.shape, (found.shape, expected.shape)
    difference = np.abs(found - expected).max()
    bound = RELATIVE_BOUND * np.abs(expected).max()
    assert difference <= bound, f"largest difference {difference:.2e}, bound {bound:.2e}"


@pytest.fixture(scope="module", params=VIT_NAMES)
def vit(request):
    return request.param, tiny_model(request.param)


@pytest.mark.parametrize("flip_averaged", [True, False], ids=["flip_averaged", "plain"])
def test_the_pixels_layout_gives_the_keras_embeddings(vit, flip_averaged, tmp_path):
    name, model = vit
    path = str(tmp_path / "model.onnx")
    export.export_onnx(model, path, flip_averaged=flip_averaged)
    images = pixel_images(1)
    expected = keras_reference(model, images, flip_averaged=flip_averaged)
    found = run_onnx(path, images)
    assert_within_bound(found, expected)
    # any batch size
    assert_within_bound(run_onnx(path, images[:1]), expected[:1])


def test_the_tracker_layout_takes_imagenet_normalised_crops_for_any_backbone(vit, tmp_path):
    """BoxMOT normalises every crop with ImageNet's mean and std; the export undoes that and the
    model applies its own (CLIP's are OpenAI's), so the ONNX model of ImageNet-normalised crops
    gives the Keras model's flip-averaged embedding of the pixels."""
    name, model = vit
    path = str(tmp_path / "tracker.onnx")
    export.export_onnx(model, path, flip_averaged=True, layout="tracker")
    images = pixel_images(2)
    found = run_onnx(path, tracker_batch(images))
    assert_within_bound(found, keras_reference(model, images, flip_averaged=True))


def test_a_centred_tracker_export_subtracts_the_mean_embedding(vit, tmp_path):
    name, model = vit
    centring = pixel_images(3, count=6)
    center = keras_reference(model, centring, flip_averaged=True).astype(np.float64).mean(axis=0)
    path = str(tmp_path / "centred.onnx")
    export.export_onnx(
        model, path, flip_averaged=True, layout="tracker", center=center.astype(np.float32)
    )
    images = pixel_images(4)
    expected = keras_reference(model, images, flip_averaged=True)
    found = run_onnx(path, tracker_batch(images))
    difference = np.abs(found - (expected - center)).max()
    assert difference <= RELATIVE_BOUND * np.abs(expected).max(), difference


def test_an_op_tf2onnx_cannot_convert_stops_the_export_with_its_name(monkeypatch, tmp_path):
    """Without the Erfc handler (TensorFlow's exact GELU in DINOv2's MLP), tf2onnx 1.17 leaves
    the op in the graph, where ONNX Runtime cannot load it; the export says which op instead."""
    model = tiny_model("dinov2_small")
    monkeypatch.setattr(export, "CUSTOM_OP_HANDLERS", {})
    path = tmp_path / "model.onnx"
    with pytest.raises(applications.ExportError, match="Erfc"):
        export.export_onnx(model, str(path), flip_averaged=True)
    assert not path.exists()


# --- export.py and search.py on the real dinov2_small ------------------------------------------


# Runs the command of its arguments and prints its peak resident memory (its only child).
PEAK_MEMORY_OF_CHILD = """
import resource, subprocess, sys
status = subprocess.run(sys.argv[1:]).returncode
print(f"peak memory {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss} kB", flush=True)
sys.exit(status)
"""


@pytest.fixture(scope="module")
def dinov2_small_run(tmp_path_factory):
    """A folder holding the real dinov2_small's inference_model.h5 (and .json) at 56x28, random
    weights, the mirror inside, as training writes it."""
    folder = tmp_path_factory.mktemp("dinov2_small")
    settings = settings_of("dinov2_small", height=56, width=28)
    keras.utils.set_random_seed(8)
    _, inference_model = build(settings)
    with_a_regional_block_of_its_own(inference_model, 8)
    applications.save_inference_model(
        inference_model, str(folder / "inference_model.h5"), settings=settings, class_num=4
    )
    return folder


def test_export_py_writes_dinov2_small_for_trackers_and_search_py_ranks_with_it(
    dinov2_small_run, market_root, tmp_path
):
    """export.py --layout tracker on the real ViT-S/14, checked by the program itself and here
    against the Keras model; then search.py ranks the same queries with the Keras file and, in an
    environment without TensorFlow, with the ONNX model: the same ranked lists but for
    near-ties."""
    model_path = str(dinov2_small_run / "inference_model.h5")
    onnx_path = str(tmp_path / "tracker.onnx")
    process = start_python(
        ["-c", PEAK_MEMORY_OF_CHILD, sys.executable, "-u", "export.py"]
        + ["--model_file_path", model_path, "--layout", "tracker", "--output_path", onnx_path]
    )
    output, _ = process.communicate(timeout=900)
    assert process.returncode == 0, output[-3000:]
    assert "largest difference from the Keras model" in output
    # 2.9 GB measured; 5.7 GB with protobuf's default messages (export.py use_python_protobuf)
    peak = int(re.search(r"peak memory (\d+) kB", output).group(1)) / 1e6
    assert peak < 4.5, f"export.py took {peak:.1f} GB at its peak"
    with open(tmp_path / "tracker.json") as description_file:
        description = json.load(description_file)
    assert description["layout"] == "tracker" and description["flip_averaged"] is True
    assert description["backbone_model_name"] == "dinov2_small"
    assert description["embedding_dimension"] == 384 + 2 * 192
    np.testing.assert_array_equal(description["input_mean"], IMAGENET_MEAN)
    np.testing.assert_array_equal(description["input_std"], IMAGENET_STD)

    model = applications.load_inference_model(model_path)
    rng = np.random.default_rng(9)
    images = rng.uniform(0, 255, (4, 56, 28, 3)).astype(np.float32)
    assert_within_bound(
        run_onnx(onnx_path, tracker_batch(images)),
        keras_reference(model, images, flip_averaged=True),
    )

    market = os.path.join(market_root, "Market-1501-v15.09.15")

    def search(path, folder, environment=None):
        process = start_python(
            ["-u", "search.py", "--model_file_path", path]
            + ["--query_path", os.path.join(market, "query")]
            + ["--gallery_path", os.path.join(market, "bounding_box_test")]
            + ["--output_folder_path", str(tmp_path / folder)]
            + ["--use_horizontal_flipping_in_evaluation"],
            environment=environment,
        )
        output, _ = process.communicate(timeout=900)
        assert process.returncode == 0, output[-3000:]
        return pd.read_csv(tmp_path / folder / "ranked_lists.csv")

    keras_lists = search(model_path, "keras")
    onnx_lists = search(onnx_path, "onnx", without_tensorflow(tmp_path / "no_tensorflow"))
    assert len(keras_lists) == len(onnx_lists) > 0
    assert np.abs(keras_lists["distance"] - onnx_lists["distance"]).max() <= 1e-4
    swapped = keras_lists["gallery_image_file_path"] != onnx_lists["gallery_image_file_path"]
    assert (np.abs(keras_lists["distance"] - onnx_lists["distance"])[swapped] <= 2e-5).all()
    assert swapped.mean() < 0.05, swapped.mean()
