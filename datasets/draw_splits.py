"""Draws the fixed splits of VIPeR, PRID2011 and QMUL-iLIDS (fixed_splits.py) into
datasets/splits/*.json, or with --check says whether the shipped files are those drawn. A module
of its own, outside the package's imports, so that `python -m` runs it cleanly.

    python -m datasets.draw_splits --check
"""

import argparse
import sys

from datasets.fixed_splits import SPLIT_DATASETS, draw_splits, format_split_file, split_file_path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    arguments = parser.parse_args(argv)
    differing = []
    for file_stem in SPLIT_DATASETS:
        text = format_split_file(draw_splits(file_stem))
        path = split_file_path(file_stem)
        if arguments.check:
            with open(path) as split_file:
                if split_file.read() != text:
                    differing.append(path)
            continue
        from atomic_files import write_atomically

        write_atomically(path, text)
        print(f"Wrote {path}")
    if differing:
        print(f"Differ from the drawn splits: {', '.join(differing)}")
        return 1
    if arguments.check:
        print("The shipped split files are those drawn with SPLIT_SEED.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
