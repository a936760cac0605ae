"""Parameters, training step and feature extraction of each backbone in FlipReID, on Keras'
TensorFlow backend: the 2021 release's resnet50 beside keras-hub's backbones (docs/backbones.md).

    python benchmarks/backbones_benchmark.py  # resnet50,dinov2_small,dinov2_base,...

Each backbone in a fresh process at 256x128 (--size), random weights (speed does not depend on
their values): the training step on P x K = 4 x 4 images with the mirror inside, and the
flip-averaged extraction of a batch of 32 (common.time_step_and_extraction says how), the median
of 2 rounds of 3 calls; peak memory of the process.
"""

import argparse
import os
import sys

from common import measure_cases, time_step_and_extraction

BACKBONES = "resnet50,dinov2_small,dinov2_base,clip_vit_base_patch16,resnet_50_imagenet"
P, K, EXTRACTION_BATCH, ROUNDS = 4, 4, 32, 2


def run_case(case: str) -> dict:
    backbone, size = case.split(":")
    height, width = (int(value) for value in size.split("x"))
    return time_step_and_extraction(
        backbone=backbone,
        image_size=(height, width),
        identity_num=P,
        image_num_per_identity=K,
        extraction_batch=EXTRACTION_BATCH,
        rounds=ROUNDS,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", default=BACKBONES)
    parser.add_argument("--size", default="256x128", help="HxW")
    parser.add_argument("--run-one", help=argparse.SUPPRESS)
    parser.add_argument("--output", default=os.path.join("benchmarks", "results", "backbones.md"))
    arguments = parser.parse_args()
    if arguments.run_one:
        import json

        print(json.dumps(run_case(arguments.run_one)))
        sys.exit(0)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    table = measure_cases(
        os.path.abspath(__file__),
        [f"{backbone}:{arguments.size}" for backbone in arguments.backbones.split(",")],
        columns=[
            "backbone",
            "input",
            "parameters (inference model)",
            f"training step, {P}x{K} images, s",
            f"extraction, images/s (batch {EXTRACTION_BATCH}, flip-averaged)",
            "first step (compile), s",
            "peak memory, GB",
        ],
        describe_case=lambda case: case.split(":"),
        format_result=lambda result: [
            f"{result['parameters']:,}",
            f"{result['step']:.2f}",
            f"{EXTRACTION_BATCH / result['extraction']:.1f}",
            f"{result['step_first']:.1f}",
            f"{result['peak_gb']:.1f}",
        ],
    )
    table.save(arguments.output)


if __name__ == "__main__":
    main()
