"""The program's FlipReID network on the JAX backend evaluates the Keras 2 versions' files to the
features the Keras 2 reference computes, within float32 rounding (issue 38's bound for JAX:
relative difference below 1e-4): the inference model's embeddings, and in training mode (Keras'
JAX path, Model.stateless_call) the outputs, the flipping loss and every BatchNormalization
moving statistic after the call, for resnet18, ibn_resnet50 and resnesta50 at 64x32; and the
program's losses (batch-hard triplet, cross-entropy) and their gradients on JAX equal
TensorFlow's and plain float64 loops'.

The reference is the Keras 2 versions' network (tests/keras2_reference: init_model, as of commit
c4699ff) run on TensorFlow in this process, random weights in every layer, saved as the Keras 2
versions saved; on TensorFlow the program computes the same bits (test_keras3_model.py,
test_keras3_backbones.py). Keras fixes its backend at import, so the JAX side runs in a child
process (tests/jax_features.py). Relative difference of an array:
max |jax - reference| / max |reference|.
"""

import keras2_reference  # noqa: I001  (tf.keras is Keras 2 from here on, for the reference)

import dataclasses
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import REPOSITORY, quiet_environment
from test_keras3_model import randomise, save_keras2_weights, unclipped_settings

from applications.h5_weights import read_h5_weights
from metric_learning import batch_hard_triplet_loss
from settings import ModelSettings

BACKBONE_NAMES = ("resnet18", "ibn_resnet50", "resnesta50")
CLASS_NUM = 4
BOUND = 1e-4


def relative_difference(reference, found) -> float:
    reference, found = np.asarray(reference), np.asarray(found)
    assert reference.shape == found.shape, f"shape {found.shape}, expected {reference.shape}"
    return float(np.max(np.abs(found - reference)) / np.max(np.abs(reference)))


def damp_residual_branches(model) -> None:
    """The scale (gamma) of each residual body's last BatchNormalization divided by 10, as a
    trained network's residual branches are small against their identities. Left at random,
    every unit doubles the activations: a random ResNeSt-50's embeddings reach 1e4 and float32
    on TensorFlow itself lands 2e-2 from float64, where no backend could be held to 1e-4."""
    last_scales = ("body/conv2/bn/gamma:0", "body/conv3/bn/gamma:0")  # basic, bottleneck
    damped = [weight for weight in model.weights if weight.name.endswith(last_scales)]
    assert damped
    for weight in damped:
        weight.assign(weight / 10.0)


def keras2_reference_features(backbone_model_name: str, folder: str) -> dict[str, np.ndarray]:
    """Writes the Keras 2 versions' files (training_model.h5; inference_model.h5 and its .json)
    and images.npy into folder; returns what jax_features.py writes, computed by the Keras 2
    reference."""
    settings = unclipped_settings(backbone_model_name)
    rng = np.random.default_rng(0)
    training_model, inference_model = keras2_reference.init_model(
        settings, class_num=CLASS_NUM, use_pretrained_backbone=False
    )
    randomise(training_model, rng)
    damp_residual_branches(training_model)
    save_keras2_weights(training_model, os.path.join(folder, "training_model.h5"))
    save_keras2_weights(inference_model, os.path.join(folder, "inference_model.h5"))
    # The description the Keras 2 versions' save_inference_model wrote beside it.
    with open(os.path.join(folder, "inference_model.json"), "w") as description_file:
        json.dump({**dataclasses.asdict(settings), "class_num": CLASS_NUM}, description_file)
    images = rng.uniform(0, 255, (4, 64, 32, 3)).astype(np.float32)
    np.save(os.path.join(folder, "images.npy"), images)
    reference = {
        f"inference/{index}": embedding.numpy()
        for index, embedding in enumerate(inference_model(images, training=False))
    }
    for index, output in enumerate(training_model(images, training=True)):
        reference[f"training/{index}"] = output.numpy()
    reference["flipping"] = np.sum([loss.numpy() for loss in training_model.losses])
    after_path = os.path.join(folder, "after_training_call.h5")
    save_keras2_weights(training_model, after_path)
    for (layer, key), value in read_h5_weights(after_path).items():
        if key.endswith(("moving_mean", "moving_variance")):
            reference[f"after/{layer}/{key}"] = value
    return reference


@pytest.mark.slow
def test_keras2_files_evaluate_on_jax_to_the_same_features(tmp_path):
    folders = {name: str(tmp_path / name) for name in BACKBONE_NAMES}
    references = {}
    for name, folder in folders.items():
        os.makedirs(folder)
        references[name] = keras2_reference_features(name, folder)
    child = subprocess.run(
        [sys.executable, "tests/jax_features.py", *folders.values()],
        cwd=REPOSITORY,
        env=quiet_environment(KERAS_BACKEND="jax", PYTHONPATH=REPOSITORY),
        capture_output=True,
        text=True,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    largest = {}
    for name, folder in folders.items():
        found = dict(np.load(os.path.join(folder, "jax.npz")))
        reference = references[name]
        assert sorted(found) == sorted(reference), name
        before = read_h5_weights(os.path.join(folder, "training_model.h5"))
        statistics = [key for key in reference if key.startswith("after/")]
        assert len(statistics) > 20, name
        for key in statistics:  # the call moved every statistic: a missed update would show
            _, layer, weight = key.split("/", 2)
            assert relative_difference(before[layer, weight], found[key]) > 10 * BOUND, key
        differences = {key: relative_difference(reference[key], found[key]) for key in reference}
        for kind in ("inference", "training", "flipping", "after"):
            worst = max((key for key in differences if key.startswith(kind)), key=differences.get)
            largest[f"{name} {kind}"] = differences[worst]
            assert differences[worst] < BOUND, (
                f"{name}: {worst} differs by {differences[worst]:.2e}"
            )
    print("largest relative differences, the program on JAX against the Keras 2 reference:")
    print("\n".join(f"  {what}: {difference:.1e}" for what, difference in largest.items()))


def triplet_losses_by_loops(labels, embeddings) -> np.ndarray:
    """Batch-hard soft-margin triplet loss (Hermans et al. 2017), float64, one anchor at a time."""
    embeddings = embeddings.astype(np.float64)
    losses = []
    for anchor, label in enumerate(labels):
        distances = [
            np.sqrt(np.sum((embeddings[anchor] - other) ** 2) + 1e-12) for other in embeddings
        ]
        pairs = list(zip(distances, labels, strict=True))
        hardest_positive = max(d for d, other in pairs if other == label)
        hardest_negative = min(d for d, other in pairs if other != label)
        losses.append(np.log1p(np.exp(hardest_positive - hardest_negative)))
    return np.array(losses)


def cross_entropies_by_loops(one_hot, probabilities) -> np.ndarray:
    """-sum(y log p), p renormalised and clipped to [1e-7, 1 - 1e-7] as Keras does, float64."""
    losses = []
    for target, output in zip(one_hot, probabilities.astype(np.float64), strict=True):
        output = np.clip(output / output.sum(), 1e-7, 1 - 1e-7)
        losses.append(-sum(t * np.log(p) for t, p in zip(target, output, strict=True)))
    return np.array(losses)


def test_the_losses_and_their_gradients_on_jax_equal_tensorflows(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(CLASS_NUM), 2)
    logits = rng.normal(0.0, 2.0, (len(labels), CLASS_NUM))
    inputs = {
        "labels": labels,
        "embeddings": rng.normal(0.0, 1.0, (len(labels), 16)).astype(np.float32),
        "one_hot": np.eye(CLASS_NUM, dtype=np.float32)[labels],
        "probabilities": (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(np.float32),
    }
    inputs_path, output_path = str(tmp_path / "inputs.npz"), str(tmp_path / "jax.npz")
    np.savez(inputs_path, **inputs)
    child = subprocess.run(
        [sys.executable, "tests/jax_losses.py", inputs_path, output_path],
        cwd=REPOSITORY,
        env=quiet_environment(KERAS_BACKEND="jax", PYTHONPATH=REPOSITORY),
        capture_output=True,
        text=True,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    found = dict(np.load(output_path))

    assert keras.backend.backend() == "tensorflow"
    embeddings = tf.constant(inputs["embeddings"])
    probabilities = tf.constant(inputs["probabilities"])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([embeddings, probabilities])
        triplet = batch_hard_triplet_loss(labels, embeddings)
        cross_entropy = keras.losses.categorical_crossentropy(inputs["one_hot"], probabilities)
        mean_triplet, mean_cross_entropy = tf.reduce_mean(triplet), tf.reduce_mean(cross_entropy)
    tensorflow = {
        "triplet": triplet.numpy(),
        "triplet_gradient": tape.gradient(mean_triplet, embeddings).numpy(),
        "cross_entropy": cross_entropy.numpy(),
        "cross_entropy_gradient": tape.gradient(mean_cross_entropy, probabilities).numpy(),
    }
    by_loops = {
        "triplet": triplet_losses_by_loops(labels, inputs["embeddings"]),
        "cross_entropy": cross_entropies_by_loops(inputs["one_hot"], inputs["probabilities"]),
    }
    largest = {}
    for name, reference in by_loops.items():
        for backend, values in (("TensorFlow", tensorflow[name]), ("JAX", found[name])):
            largest[f"{name}, {backend} against the loops"] = difference = relative_difference(
                reference, values
            )
            assert difference < 1e-6, f"{name} on {backend}: {difference:.1e} from the loops"
    for name, values in tensorflow.items():
        largest[f"{name}, JAX against TensorFlow"] = difference = relative_difference(
            values, found[name]
        )
        assert difference < 1e-6, f"{name}: JAX {difference:.1e} from TensorFlow"
    print("largest relative differences:")
    print("\n".join(f"  {what}: {difference:.1e}" for what, difference in largest.items()))


def test_the_program_extracts_features_on_jax_as_on_tensorflow(tmp_path):
    """--evaluation_only's feature extraction (applications.FeatureExtractor, flip-averaged,
    on image files through the tf.data pipeline) with KERAS_BACKEND=jax, in a child process,
    against the same on TensorFlow here: within 1e-4 of the largest feature (issue 38's bound
    for JAX)."""
    import applications
    from datasets import generate_synthetic_dataset
    from settings import SyntheticSettings

    root = generate_synthetic_dataset(
        str(tmp_path / "data"),
        SyntheticSettings(synthetic_train_identity_num=4, synthetic_test_identity_num=3),
    )
    paths = sorted(
        os.path.join(folder, name)
        for folder, _, names in os.walk(root)
        for name in names
        if name.endswith(".jpg")
    )[:10]
    settings = ModelSettings(
        backbone_model_name="resnet18",
        image_height=64,
        image_width=32,
        use_horizontal_flipping_inside_model=True,
    )
    keras.utils.set_random_seed(3)
    _, inference_model = applications.init_model(
        settings, class_num=4, use_pretrained_backbone=False
    )
    randomise(inference_model, np.random.default_rng(4))
    model_path = str(tmp_path / "inference_model.h5")
    applications.save_inference_model(inference_model, model_path, settings=settings, class_num=4)
    expected = applications.FeatureExtractor(
        applications.inference_model_of_file(model_path)[0], use_horizontal_flipping=True
    )(paths)
    code = (
        "import json, sys, numpy as np, applications\n"
        f"paths = json.loads({json.dumps(json.dumps(paths))})\n"
        f"model, _ = applications.inference_model_of_file({model_path!r})\n"
        "features = applications.FeatureExtractor(model, use_horizontal_flipping=True)(paths)\n"
        f"np.save({str(tmp_path / 'jax.npy')!r}, features)\n"
        "import keras; print(keras.backend.backend())\n"
    )
    process = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPOSITORY,
        env=quiet_environment(KERAS_BACKEND="jax", PYTHONPATH=REPOSITORY),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert process.returncode == 0, process.stdout[-2000:] + process.stderr[-3000:]
    assert process.stdout.strip().splitlines()[-1] == "jax"
    found = np.load(tmp_path / "jax.npy")
    assert found.shape == expected.shape == (10, 1024)
    assert relative_difference(expected, found) <= 1e-4
