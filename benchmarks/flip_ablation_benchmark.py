"""A miniature of the FlipReID ablation on the synthetic dataset: mAP and rank-1 for the four
combinations of use_horizontal_flipping_inside_model x use_horizontal_flipping_in_evaluation.

    python benchmarks/flip_ablation_benchmark.py [--steps_per_epoch 25 --epoch_num 2]

Every run is the README's demo command (resnet18 from scratch, 64x32) with the two flags set;
the best test numbers of each run are read from its history.csv.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import pandas as pd
from common import DEMO_ARGUMENTS, REPOSITORY, RESULTS_FOLDER, MarkdownTable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps_per_epoch", default="25")
    parser.add_argument("--epoch_num", default="2")
    parser.add_argument("--root_folder_path", default=os.path.join(REPOSITORY, "data"))
    parser.add_argument("--output", default=os.path.join(RESULTS_FOLDER, "flip_ablation.md"))
    arguments = parser.parse_args()
    table = MarkdownTable(
        ["flipping inside model", "flipping in evaluation", "mAP", "rank-1", "minutes"]
    )
    with tempfile.TemporaryDirectory() as output_root:
        for inside in (False, True):
            for in_evaluation in (False, True):
                output_folder = os.path.join(output_root, f"{inside}_{in_evaluation}")
                command = [
                    sys.executable,
                    "-u",
                    "solution.py",
                    *DEMO_ARGUMENTS,
                    "--root_folder_path",
                    arguments.root_folder_path,
                    "--output_folder_path",
                    output_folder,
                    "--steps_per_epoch",
                    arguments.steps_per_epoch,
                    "--epoch_num",
                    arguments.epoch_num,
                    f"--{'' if inside else 'no'}use_horizontal_flipping_inside_model",
                    f"--{'' if in_evaluation else 'no'}use_horizontal_flipping_in_evaluation",
                ]
                start = time.perf_counter()
                subprocess.run(
                    command,
                    cwd=REPOSITORY,
                    check=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                minutes = (time.perf_counter() - start) / 60
                history = pd.read_csv(
                    os.path.join(output_folder, "Synthetic_resnet18", "history.csv")
                )
                best = history.loc[history["test_mAP"].idxmax()]
                table.add_row(
                    [
                        "yes" if inside else "no",
                        "yes" if in_evaluation else "no",
                        f"{100 * best['test_mAP']:.1f}",
                        f"{100 * best['test_rank1']:.1f}",
                        f"{minutes:.1f}",
                    ]
                )
    table.save(arguments.output)


if __name__ == "__main__":
    main()
