"""Images per second of FlipReID training steps, for a backbone, input size, precision, device
count and XLA; the same script is what to run on a GPU machine.

    python benchmarks/training_benchmark.py \\
        --cases resnet50:384x128:float32:1,resnet50:384x128:bfloat16:1,resnet50:384x128:float32:2

A case is backbone:HxW:precision:devices[:xla], precision one of float32, float16, bfloat16
(--mixed_precision), devices the replica count (on a machine without GPUs, logical CPU
devices), and a fifth field "xla" to compile the step with XLA (jit_compile). Steps use the
training model with the mirror inside it (FlipReID), P x K = 4 x 4 images (--batch to change),
and a fixed batch in memory, so the input pipeline is not measured (pipeline_benchmark.py
does that). Each case runs in a fresh process: 2 warm-up steps, then --steps timed steps.
"""

import time

from common import measure_cases, parse_case_arguments

IDENTITY_NUM, IMAGE_NUM_PER_IDENTITY, TIMED_STEPS = 4, 4, 5


def run_case(case: str) -> dict:
    import legacy_keras  # noqa: F401, I001  (Keras 2 before TensorFlow)

    import numpy as np

    import applications
    from applications import ModelSettings
    from training import DeviceSettings, configure_devices

    backbone_model_name, size, precision, devices, *options = case.split(":")
    image_height, image_width = (int(value) for value in size.split("x"))
    strategy = configure_devices(
        DeviceSettings(
            mixed_precision=precision,
            logical_cpu_device_num=int(devices),
            jit_compile="xla" in options,
        )
    )
    with strategy.scope():
        training_model, _ = applications.init_model(
            ModelSettings(
                backbone_model_name=backbone_model_name,
                image_height=image_height,
                image_width=image_width,
                use_horizontal_flipping_inside_model=True,
            ),
            class_num=751,
            use_pretrained_backbone=False,
        )
        applications.compile_training_model(training_model, jit_compile="xla" in options)
    batch_size = IDENTITY_NUM * IMAGE_NUM_PER_IDENTITY
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (batch_size, image_height, image_width, 3)).astype(np.float32)
    labels = np.repeat(np.arange(IDENTITY_NUM), IMAGE_NUM_PER_IDENTITY)
    one_hot = np.eye(751, dtype=np.float32)[labels]
    targets = [
        labels if name.endswith("_embedding") else one_hot for name in training_model.output_names
    ]
    for _ in range(2):
        training_model.train_on_batch(images, targets)
    start = time.perf_counter()
    for _ in range(TIMED_STEPS):
        training_model.train_on_batch(images, targets)
    seconds_per_step = (time.perf_counter() - start) / TIMED_STEPS
    return {
        "seconds_per_step": seconds_per_step,
        "images_per_second": batch_size / seconds_per_step,
        "replicas": strategy.num_replicas_in_sync,
    }


def main() -> None:
    arguments = parse_case_arguments(
        __doc__.splitlines()[0],
        default_cases=(
            "resnet50:384x128:float32:1,resnet50:384x128:bfloat16:1,"
            "resnet50:384x128:float32:2,resnet50:384x128:float32:1:xla"
        ),
        output_file_name="training.md",
        run_case=run_case,
    )
    table = measure_cases(
        __file__,
        arguments.cases.split(","),
        columns=[
            "backbone",
            "input",
            "precision",
            "devices",
            "XLA",
            "seconds per step",
            "images per second",
            "peak memory (GB)",
        ],
        describe_case=lambda case: [*case.split(":")[:4], "yes" if "xla" in case else "no"],
        format_result=lambda result: [
            f"{result['seconds_per_step']:.2f}",
            f"{result['images_per_second']:.1f}",
            f"{result['peak_gb']:.2f}",
        ],
    )
    table.save(arguments.output)


if __name__ == "__main__":
    main()
