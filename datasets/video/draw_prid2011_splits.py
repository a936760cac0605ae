"""Draws the ten PRID2011 splits once and writes prid2011_splits.json beside this file; the
loader only reads that file, so every run and every user gets the same splits.

    python3 -m datasets.video.draw_prid2011_splits

Each split: the 200 people seen by both cameras (person_0001 to person_0200) in a random order
from numpy's default_rng(SEED, then the split's number); the first 100 train, the others test.
"""

import json

import numpy as np

from atomic_files import write_atomically

from .two_cameras import PRID2011, PRID2011_SPLITS_PATH, SPLIT_NUM

SEED = 2011


def draw_splits() -> dict:
    people = [f"person_{number:04d}" for number in range(1, PRID2011.people_num + 1)]
    half = len(people) // 2
    splits = []
    for split_index in range(SPLIT_NUM):
        order = np.random.default_rng([SEED, split_index]).permutation(len(people))
        splits.append(
            {
                "train": sorted(people[i] for i in order[:half]),
                "test": sorted(people[i] for i in order[half:]),
            }
        )
    return {
        "dataset": "PRID2011 multi_shot",
        "drawn_by": "datasets/video/draw_prid2011_splits.py",
        "seed": SEED,
        "splits": splits,
    }


def to_text(content: dict) -> str:
    """JSON with one line per split and list, so that a diff shows which split changed."""
    lines = [f"  {json.dumps(key)}: {json.dumps(value)}," for key, value in content.items()]
    splits = ",\n".join(
        "    {\n"
        + ",\n".join(f"      {json.dumps(k)}: {json.dumps(v)}" for k, v in split.items())
        + "\n    }"
        for split in content["splits"]
    )
    lines[-1] = f'  "splits": [\n{splits}\n  ]'
    return "{\n" + "\n".join(lines) + "\n}\n"


if __name__ == "__main__":
    write_atomically(PRID2011_SPLITS_PATH, to_text(draw_splits()))
    print(f"Wrote {PRID2011_SPLITS_PATH}")
