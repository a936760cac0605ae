"""The 10 train/test splits of VIPeR, PRID2011 and QMUL-iLIDS, fixed by the project: drawn once
with SPLIT_SEED by draw_splits() below and shipped as datasets/splits/<name>.json, so that two
fresh clones test on the same people. (GRID's 10 splits come with the dataset, in its
features_and_partitions.mat.) Imports no TensorFlow.

    python -m datasets.draw_splits           # writes datasets/splits/*.json (they are shipped)
    python -m datasets.draw_splits --check   # says whether the shipped files are those drawn

A file holds {"dataset", "seed", "splits": [{"train": [identity, ...], "test": [...]}, x 10]},
identities as the numbers in the dataset's file names, sorted within each list.
"""

import json
import os

import numpy as np

SPLIT_SEED = 40  # the project's issue 40, which asked for fixed splits
SPLIT_FOLDER_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "splits")

# VIPeR's file names number its 632 people from 000 to 873 with these numbers unused.
VIPER_UNUSED_NUMBERS = (
    *range(247, 300),
    349,
    352,
    356,
    363,
    *range(396, 500),
    530,
    559,
    586,
    602,
    644,
    663,
    665,
    668,
    681,
    688,
    691,
    694,
    695,
    704,
    710,
    712,
    718,
    719,
    727,
    730,
    739,
    *range(742, 800),
    810,
    857,
)


def viper_identities() -> list[int]:
    """VIPeR's 632 identity numbers (cam_a/000_45.bmp is identity 0)."""
    return sorted(set(range(874)) - set(VIPER_UNUSED_NUMBERS))


# file stem: (identities the splits divide, training identities per split, stream of SPLIT_SEED)
SPLIT_DATASETS = {
    "viper": (viper_identities(), 316, 1),  # half of 632 (Gray et al.; torchreid)
    "prid2011": (list(range(1, 201)), 100, 2),  # the 200 people both cameras saw
    # int(119 / 2) training people, as torchreid; people numbered 0001 to 0119 in the file
    # names (not checked against a copy here: one numbered otherwise stops with the numbers).
    "ilids": (list(range(1, 120)), 59, 3),
}


def draw_splits(file_stem: str) -> dict:
    """The content of datasets/splits/<file_stem>.json, drawn from SPLIT_SEED."""
    identities, train_identity_num, stream = SPLIT_DATASETS[file_stem]
    rng = np.random.default_rng([SPLIT_SEED, stream])
    splits = []
    for _ in range(10):
        order = rng.permutation(identities)
        splits.append(
            {
                "train": sorted(int(i) for i in order[:train_identity_num]),
                "test": sorted(int(i) for i in order[train_identity_num:]),
            }
        )
    return {"dataset": file_stem, "seed": SPLIT_SEED, "splits": splits}


def split_file_path(file_stem: str) -> str:
    return os.path.join(SPLIT_FOLDER_PATH, f"{file_stem}.json")


def format_split_file(content: dict) -> str:
    """One split per line pair: readable, and small diffs if a file ever changes."""
    lines = [
        "{",
        f'  "dataset": {json.dumps(content["dataset"])},',
        f'  "seed": {content["seed"]},',
        '  "splits": [',
    ]
    for index, split in enumerate(content["splits"]):
        comma = "," if index < len(content["splits"]) - 1 else ""
        lines.append(
            f'    {{"train": {json.dumps(split["train"])},\n'
            f'     "test": {json.dumps(split["test"])}}}{comma}'
        )
    lines += ["  ]", "}"]
    return "\n".join(lines) + "\n"


def read_split(file_stem: str, split_index: int) -> tuple[list[int], list[int]]:
    """(training identities, test identities) of one shipped split."""
    with open(split_file_path(file_stem)) as split_file:
        split = json.load(split_file)["splits"][split_index]
    return split["train"], split["test"]
