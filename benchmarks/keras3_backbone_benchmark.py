"""Speed of the program's backbones (load_backbones, Keras 3) against the Keras 2 versions' trunk
(tf2cv's blocks, last stride 1: tests/keras2_reference), the check of the move to Keras 3
(issue 38 asks for new / old <= 1.05 at resnet50 384x128 and resnet18 64x32).

    python benchmarks/keras3_backbone_benchmark.py --cases resnet18:64x32:128,resnet50:384x128:8

A case is backbone:HxW:batch. In one process, both trunks with the same weights, each step
compiled with tf.function: the forward pass in inference mode (feature extraction's), and the
forward pass in training mode with the gradients of every weight (a training step's network
part, without losses or optimizer). Timed in alternating rounds (old, new, old, new, ...), so
that a load on the machine falls on both; the median of the rounds is reported, with
new / old for each. Needs requirements-test.txt (tf_keras and tf2cv, for the old trunk).
"""

import os
import statistics
import sys
import tempfile
import time

from common import MarkdownTable, parse_case_arguments

ROUNDS, STEPS_PER_ROUND = 5, 3


def run_case(case: str) -> dict:
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
    import keras2_reference  # noqa: I001  (before TensorFlow: tf.keras is Keras 2 for tf2cv's code)
    import numpy as np
    import tensorflow as tf
    from test_keras3_backbones import randomised_tf2cv_weights_file

    from load_backbones import build_backbone_blocks, load_tf2cv_weights

    backbone, size, batch = case.split(":")
    height, width = (int(value) for value in size.split("x"))
    with tempfile.TemporaryDirectory() as folder:
        weights_file_path = os.path.join(folder, "weights.h5")
        randomised_tf2cv_weights_file(backbone, weights_file_path)
        _, *old_blocks = keras2_reference.load_backbone(
            backbone, pretrained_backbone_weights_file_path=weights_file_path
        )
        new_blocks = build_backbone_blocks(backbone, image_size=(height, width))
        load_tf2cv_weights(new_blocks, weights_file_path, backbone_model_name=backbone)
    images = tf.constant(
        np.random.default_rng(0).normal(size=(int(batch), height, width, 3)).astype(np.float32)
    )

    def steps(blocks):
        variables = [weight for block in blocks for weight in block.trainable_weights]

        @tf.function
        def forward(x):
            for block in blocks:
                x = block(x, training=False)
            return x

        @tf.function
        def forward_backward(x):
            with tf.GradientTape() as tape:
                for block in blocks:
                    x = block(x, training=True)
                loss = tf.reduce_sum(x)
            return tape.gradient(loss, variables)

        return {"forward": forward, "forward_backward": forward_backward}

    trunks = {"old": steps(old_blocks), "new": steps(new_blocks)}
    seconds = {(trunk, kind): [] for trunk in trunks for kind in ("forward", "forward_backward")}
    for trunk in trunks.values():  # tracing and the first calls out of the timing
        for function in trunk.values():
            tf.nest.map_structure(lambda tensor: tensor.numpy(), function(images))
    for _ in range(ROUNDS):
        for kind in ("forward", "forward_backward"):
            for name, trunk in trunks.items():
                start = time.perf_counter()
                for _ in range(STEPS_PER_ROUND):
                    tf.nest.map_structure(lambda tensor: tensor.numpy(), trunk[kind](images))
                seconds[name, kind].append((time.perf_counter() - start) / STEPS_PER_ROUND)
    return {
        f"{name}_{kind}": int(batch) / statistics.median(values)
        for (name, kind), values in seconds.items()
    }


def main() -> None:
    arguments = parse_case_arguments(
        __doc__,
        default_cases="resnet18:64x32:128,resnet50:384x128:8",
        output_file_name="keras3_backbone_benchmark.md",
        run_case=run_case,
    )
    from common import measure_in_subprocess

    table = MarkdownTable(
        [
            "backbone",
            "input",
            "batch",
            "forward, images/s: Keras 2",
            "Keras 3",
            "Keras 3 time / Keras 2 time",
            "forward + gradients, images/s: Keras 2",
            "Keras 3",
            "Keras 3 time / Keras 2 time",
        ]
    )
    for case in arguments.cases.split(","):
        backbone, size, batch = case.split(":")
        result = measure_in_subprocess(os.path.abspath(__file__), case)
        if "error" in result:
            table.add_row([backbone, size, batch, f"failed: {result['error']}", *[""] * 5])
            continue
        cells = []
        for kind in ("forward", "forward_backward"):
            old, new = result[f"old_{kind}"], result[f"new_{kind}"]
            cells += [f"{old:.1f}", f"{new:.1f}", f"{old / new:.3f}"]
        table.add_row([backbone, size, batch, *cells])
    table.save(arguments.output)


if __name__ == "__main__":
    main()
