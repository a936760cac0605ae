"""A miniature of the FlipReID ablation on the synthetic dataset: mAP and rank-1 for the four
combinations of use_horizontal_flipping_inside_model x use_horizontal_flipping_in_evaluation.

    python benchmarks/flip_ablation_benchmark.py [--steps_per_epoch 25 --epoch_num 2]
    python benchmarks/flip_ablation_benchmark.py --backbone_model_name dinov2_small \
        --image_size 56x28

It is one sweep (sweep.py) of the README's demo command (resnet18 from scratch, 64x32, unless
--backbone_model_name and --image_size say otherwise) over the two flags; the table comes from
the sweep's summary. Minutes are the runs' epochs, evaluation
included.
"""

import argparse
import os
import subprocess
import sys
import tempfile

import pandas as pd
from common import DEMO_ARGUMENTS, REPOSITORY, RESULTS_FOLDER, MarkdownTable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps_per_epoch", default="25")
    parser.add_argument("--epoch_num", default="2")
    parser.add_argument("--backbone_model_name", default="resnet18")
    parser.add_argument("--image_size", default="64x32", help="HxW")
    parser.add_argument("--root_folder_path", default=os.path.join(REPOSITORY, "data"))
    parser.add_argument("--output", default=os.path.join(RESULTS_FOLDER, "flip_ablation.md"))
    arguments = parser.parse_args()
    height, width = arguments.image_size.split("x")
    demo_arguments = replaced(
        DEMO_ARGUMENTS,
        backbone_model_name=arguments.backbone_model_name,
        image_height=height,
        image_width=width,
    )
    with tempfile.TemporaryDirectory() as sweep_folder_path:
        subprocess.run(
            [
                sys.executable,
                "sweep.py",
                *demo_arguments,
                "--root_folder_path",
                arguments.root_folder_path,
                "--steps_per_epoch",
                arguments.steps_per_epoch,
                "--epoch_num",
                arguments.epoch_num,
                "--grid",
                "use_horizontal_flipping_inside_model=false,true",
                "--grid",
                "use_horizontal_flipping_in_evaluation=false,true",
                "--sweep_folder_path",
                sweep_folder_path,
            ],
            cwd=REPOSITORY,
            check=True,
        )
        summary = pd.read_csv(os.path.join(sweep_folder_path, "sweep_summary.csv"))
    table = MarkdownTable(
        ["flipping inside model", "flipping in evaluation", "mAP", "rank-1", "minutes"]
    )
    for _, run in summary.iterrows():
        table.add_row(
            [
                "yes" if run["use_horizontal_flipping_inside_model"] else "no",
                "yes" if run["use_horizontal_flipping_in_evaluation"] else "no",
                f"{100 * run['best_test_mAP_fraction']:.1f}",
                f"{100 * run['test_rank1_at_best_fraction']:.1f}",
                f"{60 * run['training_hours']:.1f}",
            ]
        )
    table.save(arguments.output)


def replaced(arguments: list[str], **values: str) -> list[str]:
    """arguments with the value after each --name of `values` replaced."""
    arguments = list(arguments)
    for name, value in values.items():
        arguments[arguments.index(f"--{name}") + 1] = value
    return arguments


if __name__ == "__main__":
    main()
