"""A small cross-domain sweep, end to end: three generated datasets (different seeds, so
different people) in the layouts of Market1501, CUHK03-NP (labeled) and MSMT17 version 1; one
sweep trains the README's demo model on each and tests every run on all three; sweep.py prints
the train x test table.

    python benchmarks/cross_domain_sweep.py --folder_path /tmp/cross_domain
"""

import argparse
import os
import shutil
import subprocess
import sys

from common import DEMO_ARGUMENTS, REPOSITORY

sys.path.insert(0, os.path.join(REPOSITORY, "tests"))  # the layout writers of the tests

from layout_copies import write_cuhk03_np, write_msmt17  # noqa: E402

DATASETS = "Market1501,CUHK03_NP_labeled,MSMT17_V1"


def write_datasets(root: str) -> None:
    from datasets.synthetic import generate_synthetic_dataset
    from settings import SyntheticSettings

    trees = [
        os.path.join(
            generate_synthetic_dataset(
                os.path.join(root, "generated"), SyntheticSettings(seed=seed)
            ),
            "Market-1501-v15.09.15",
        )
        for seed in (0, 1, 2)
    ]
    if not os.path.isdir(os.path.join(root, "Market-1501-v15.09.15")):
        shutil.copytree(trees[0], os.path.join(root, "Market-1501-v15.09.15"))
    if not os.path.isdir(os.path.join(root, "cuhk03-np")):
        write_cuhk03_np(root, trees[1], "labeled")
    if not os.path.isdir(os.path.join(root, "MSMT17_V1")):
        write_msmt17(root, trees[2], version=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder_path", default="/tmp/cross_domain")
    arguments = parser.parse_args()
    root = os.path.join(arguments.folder_path, "data")
    write_datasets(root)
    command = [
        sys.executable,
        "sweep.py",
        "--grid",
        f"dataset_name={DATASETS}",
        "--testing_dataset_names",
        DATASETS,
        "--root_folder_path",
        root,
        "--sweep_folder_path",
        os.path.join(arguments.folder_path, "sweep"),
        *DEMO_ARGUMENTS[2:],  # without its --dataset_name Synthetic: the grid sets it
        "--epoch_num",
        "2",
        "--steps_per_epoch",
        "25",
        "--use_horizontal_flipping_inside_model",
        "--use_horizontal_flipping_in_evaluation",
    ]
    print(" ".join(command), flush=True)
    sys.exit(subprocess.run(command, cwd=REPOSITORY).returncode)


if __name__ == "__main__":
    main()
