r"""An untrained FlipReID model (random weights, no ImageNet) exported for trackers, the
baseline of benchmarks/tracking_benchmark.py; in the training environment:

    python benchmarks/untrained_tracker_model.py \
        --output_path ./exported/untrained_tracker_model.onnx

The demo's architecture by default (resnet18 at 64x32, the mirror averaged inside), the same
weights for the same --seed.
"""

import argparse
import os
import subprocess
import sys
import tempfile

from common import REPOSITORY, write_untrained_inference_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output_path", required=True, help="The .onnx file to write.")
    parser.add_argument("--backbone_model_name", default="resnet18")
    parser.add_argument("--image_height", type=int, default=64)
    parser.add_argument("--image_width", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--center_on_images_path", help="As export.py's: subtract these images' mean embedding."
    )
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        model_path = os.path.join(folder, "inference_model.h5")
        write_untrained_inference_model(
            model_path,
            backbone=arguments.backbone_model_name,
            height=arguments.image_height,
            width=arguments.image_width,
            seed=arguments.seed,
        )
        export = [sys.executable, "export.py", "--model_file_path", model_path, "--layout"]
        export += ["tracker", "--output_path", os.path.abspath(arguments.output_path)]
        if arguments.center_on_images_path:
            export += ["--center_on_images_path", arguments.center_on_images_path]
        subprocess.run(export, check=True, cwd=REPOSITORY)


if __name__ == "__main__":
    main()
