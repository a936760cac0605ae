"""Speed of the program's FlipReID network on Keras 3 (applications/) against the Keras 2
versions' (tests/keras2_reference), whole: the training step and feature extraction. Issue 38
asks for Keras 3 time / Keras 2 time <= 1.05 at resnet50 384x128 and resnet18 64x32
(keras3_backbone_benchmark.py measures the trunk alone).

    python benchmarks/keras3_program_benchmark.py  # resnet18:64x32:16x4:64,resnet50:384x128:4x4:16

A case is backbone:HxW:PxK:batch[:rounds]: a training batch of P identities x K images, and
`batch` images per extraction call. In one process, both networks with the same weights (the
Keras 2 model's, written as the Keras 2 versions wrote them and loaded by key), float32, and
Grappler's arithmetic optimizer off, as training.configure_devices sets it for the program:
- training step: the model with the mirror inside (use_horizontal_flipping_inside_model), the
  default L2 factors and Adam, each side's compile_training_model; timed is the function Keras
  builds for fit (make_train_function), called on an iterator over one fixed batch as fit calls
  it once per step, until its logs are numbers. So the input pipeline and fit's callbacks are
  out (the same on both sides), the step is whole: forward, losses, gradients, L2 and Adam;
- extraction: applications.features.embed_images (image and mirror as one batch, flip-averaged)
  in a tf.function on each side's inference model, on uint8 images as FeatureExtractor gives it.
Before the timing, both sides' first step must give the same loss, and their features the same
values, or the case fails. Then `rounds` rounds (default 5) of 3 calls per side, the order of
the sides swapped every round, so that a load on the machine falls on both; reported: the median
of the rounds' seconds per call. Needs requirements-test.txt (tf_keras and tf2cv).
"""

import os
import statistics
import sys
import tempfile
import time

from common import MarkdownTable, measure_in_subprocess, parse_case_arguments, parse_step_case

ROUNDS, CALLS_PER_ROUND, CLASS_NUM = 5, 3, 751
KINDS = {"step": "training step", "extraction": "extraction"}


def parse_case(case: str) -> dict:
    return parse_step_case(case, default_rounds=ROUNDS)


def run_case(case: str) -> dict:
    # tf.keras must be Keras 2 for the reference; TensorFlow binds it at its first import,
    # which tensorflow_setup does (after choosing oneDNN, as for the program).
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tensorflow_setup  # noqa: F401, I001

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
    import keras2_reference
    import numpy as np
    import tensorflow as tf
    from test_keras3_model import save_keras2_weights

    import applications
    from applications.features import embed_images
    from applications.h5_weights import load_h5_weights
    from settings import DeviceSettings, ModelSettings, RegularizationSettings
    from training import configure_devices

    parameters = parse_case(case)
    configure_devices(DeviceSettings(mixed_precision="float32"))
    height, width = parameters["image_size"]
    settings = ModelSettings(
        backbone_model_name=parameters["backbone"],
        image_height=height,
        image_width=width,
        use_horizontal_flipping_inside_model=True,
    )
    models = {}  # side: (training model, inference model)
    for side, package in (("old", keras2_reference), ("new", applications)):
        models[side] = package.init_model(
            settings,
            class_num=CLASS_NUM,
            use_pretrained_backbone=False,
            regularization=RegularizationSettings(),
        )
    with tempfile.TemporaryDirectory() as folder:
        weights_file_path = os.path.join(folder, "training_model.h5")
        save_keras2_weights(models["old"][0], weights_file_path)
        load_h5_weights(models["new"][0], weights_file_path)  # the inference model's too
    keras2_reference.compile_training_model(
        models["old"][0], optimizer=keras2_reference.make_optimizer(models["old"][0])
    )
    applications.compile_training_model(models["new"][0])

    rng = np.random.default_rng(0)
    identity_num, image_num = parameters["identity_num"], parameters["image_num_per_identity"]
    labels = np.repeat(np.arange(identity_num), image_num)
    one_hot = np.eye(CLASS_NUM, dtype=np.float32)[labels]
    training_images = rng.uniform(0, 255, (len(labels), height, width, 3)).astype(np.float32)
    targets = tuple(  # a tuple: tf.data would stack a list into one tensor
        labels if name.endswith("_embedding") else one_hot for name in models["new"][0].output_names
    )
    extraction_images = tf.constant(
        rng.integers(0, 256, (parameters["extraction_batch"], height, width, 3), dtype=np.uint8)
    )

    def step_call(training_model):
        iterator = iter(tf.data.Dataset.from_tensors((training_images, targets)).repeat())
        training_model.make_train_function()  # Keras 3's returns nothing when it builds one
        train_function = training_model.train_function
        return lambda: float(train_function(iterator)["loss"])

    def extraction_call(inference_model):
        embed = tf.function(
            lambda images: embed_images(inference_model, images, flip_averaged=True)
        )
        return lambda: embed(extraction_images).numpy()

    calls = {
        (side, kind): make_call(models[side][index])
        for side in models
        for kind, make_call, index in (("step", step_call, 0), ("extraction", extraction_call, 1))
    }
    # Tracing and the first calls out of the timing; they also check that both sides compute
    # the same (the same weights loaded by key), before the weights move.
    features = {side: calls[side, "extraction"]() for side in models}
    difference = np.abs(features["new"] - features["old"]).max()
    if not difference <= 1e-4 * np.abs(features["old"]).max():
        raise RuntimeError(f"The two sides' features differ (largest difference {difference}).")
    losses = {side: calls[side, "step"]() for side in models}
    if not np.isclose(losses["new"], losses["old"], rtol=1e-5):
        raise RuntimeError(f"The two sides' first losses differ: {losses}.")

    seconds = {key: [] for key in calls}
    for round_index in range(parameters["rounds"]):
        sides = ("old", "new") if round_index % 2 == 0 else ("new", "old")
        for kind in KINDS:
            for side in sides:
                start = time.perf_counter()
                for _ in range(CALLS_PER_ROUND):
                    calls[side, kind]()
                seconds[side, kind].append((time.perf_counter() - start) / CALLS_PER_ROUND)
    return {f"{side}_{kind}": statistics.median(values) for (side, kind), values in seconds.items()}


def describe(case: str, kind: str) -> str:
    parameters = parse_case(case)
    height, width = parameters["image_size"]
    if kind == "step":
        images = f"{parameters['identity_num']}x{parameters['image_num_per_identity']} images"
    else:
        images = f"batch {parameters['extraction_batch']}"
    return f"{parameters['backbone']} {height}x{width}, {KINDS[kind]}, {images}"


def main() -> None:
    arguments = parse_case_arguments(
        __doc__,
        default_cases="resnet18:64x32:16x4:64,resnet50:384x128:4x4:16",
        output_file_name="keras3_program_benchmark.md",
        run_case=run_case,
    )
    table = MarkdownTable(
        ["case", "Keras 2, s per call", "Keras 3, s per call", "Keras 3 / Keras 2"]
    )
    for case in arguments.cases.split(","):
        result = measure_in_subprocess(os.path.abspath(__file__), case)
        for kind in KINDS:
            if "error" in result:
                table.add_row([describe(case, kind), f"failed: {result['error']}", "", ""])
                continue
            old, new = result[f"old_{kind}"], result[f"new_{kind}"]
            table.add_row([describe(case, kind), f"{old:.4f}", f"{new:.4f}", f"{new / old:.3f}"])
    table.save(arguments.output)


if __name__ == "__main__":
    main()
