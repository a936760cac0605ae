"""Cost of summing each weight's gradient terms in a fixed order (applications/training_model.py):
this project's training step against the one it replaced, Keras' default step with the L2
penalty back-propagated and Grappler's arithmetic optimizer on, whose sums of three terms
changed order from process to process.

    python benchmarks/gradient_sum_benchmark.py --cases resnet18:64x32,resnet50:256x128

A case is backbone:HxW; the training model with the mirror inside and the default L2 factors,
P x K = 4 x 4 images of a fixed batch. Each variant runs in a fresh process (2 warm-up steps,
then 5 timed steps of the compiled step function), the two variants interleaved, three rounds;
the table gives each variant's median and the ratio.
"""

import statistics
import sys

from common import MarkdownTable, measure_in_subprocess, parse_case_arguments

VARIANTS = ("fixed order", "previous")
ROUNDS = 3


def run_case(case: str) -> dict:
    variant, backbone_model_name, size = case.split(":")
    import tensorflow_setup  # noqa: F401, I001  (before TensorFlow is imported)

    import tensorflow as tf

    from regularizers import RegularizationSettings
    from training import DeviceSettings, configure_devices
    from training_benchmark import build_training_model, fixed_batch, parse_size
    from training_benchmark import seconds_per_call, step_function

    configure_devices(DeviceSettings(mixed_precision="float32"))
    image_size = parse_size(size)
    training_model = build_training_model(
        backbone_model_name, image_size, regularization=RegularizationSettings()
    )
    if variant == "previous":
        tf.config.optimizer.set_experimental_options({"arithmetic_optimization": True})
        training_model.train_step = lambda data: previous_step(training_model, data)
    batch = fixed_batch(training_model, image_size)
    return {"seconds_per_step": seconds_per_call(step_function(training_model, batch))}


def previous_step(training_model, data) -> dict:
    """The step as it was: the L2 penalty back-propagated with the losses (its value is then in
    the loss twice, which changes nothing of the step's cost)."""
    import keras
    import tensorflow as tf

    images, targets, _ = keras.utils.unpack_x_y_sample_weight(data)
    with tf.GradientTape() as tape:
        predictions = training_model(images, training=True)
        loss, values = training_model.flipreid_loss(targets, predictions)
        loss = loss + training_model.l2_penalty.value()
    variables = training_model.trainable_variables
    gradients = tape.gradient(loss, variables)
    training_model.optimizer.apply_gradients(zip(gradients, variables, strict=True))
    return training_model.track(values)


def main() -> None:
    arguments = parse_case_arguments(
        __doc__,
        default_cases="resnet18:64x32,resnet50:256x128",
        output_file_name="gradient_sum.md",
        run_case=run_case,
    )
    table = MarkdownTable(
        ["case", "fixed order, s/step", "previous, s/step", "fixed order / previous"]
    )
    for case in arguments.cases.split(","):
        seconds = {variant: [] for variant in VARIANTS}
        for _ in range(ROUNDS):
            for variant in VARIANTS:
                result = measure_in_subprocess(__file__, f"{variant}:{case}")
                if "error" in result:
                    sys.exit(f"{variant} {case} failed: {result['error']}")
                seconds[variant].append(result["seconds_per_step"])
        fixed, previous = (statistics.median(seconds[variant]) for variant in VARIANTS)
        table.add_row([case, f"{fixed:.3f}", f"{previous:.3f}", f"{fixed / previous:.3f}"])
    table.save(arguments.output)


if __name__ == "__main__":
    main()
