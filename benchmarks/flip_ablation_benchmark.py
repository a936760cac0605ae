"""A miniature of the FlipReID ablation on the synthetic dataset: mAP and rank-1 for the four
combinations of use_horizontal_flipping_inside_model x use_horizontal_flipping_in_evaluation.

    python benchmarks/flip_ablation_benchmark.py [--steps_per_epoch 25 --epoch_num 2]

It is one sweep (sweep.py) of the README's demo command (resnet18 from scratch, 64x32) over the
two flags; the table comes from the sweep's summary. Minutes are the runs' epochs, evaluation
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
    parser.add_argument("--root_folder_path", default=os.path.join(REPOSITORY, "data"))
    parser.add_argument("--output", default=os.path.join(RESULTS_FOLDER, "flip_ablation.md"))
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as sweep_folder_path:
        subprocess.run(
            [
                sys.executable,
                "sweep.py",
                *DEMO_ARGUMENTS,
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


if __name__ == "__main__":
    main()
