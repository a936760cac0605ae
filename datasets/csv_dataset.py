"""A dataset of your own, described by one CSV file.

Columns: image_file_path, identity_ID, camera_ID (optional), split (train, query or gallery).
Relative image paths are read relative to the CSV file's folder. Identities may be numbers or
names; names are numbered (sorted) so that the evaluator can compare them. Without a camera
column every image gets a camera of its own, so the same-camera rule removes no match.
"""

import os

import numpy as np
import pandas as pd

from .common import COLUMNS, DatasetError

SPLIT_NAMES = ("train", "query", "gallery")
EXAMPLE = (
    "image_file_path,identity_ID,camera_ID,split\n"
    "images/alice_1.jpg,1,1,train\nimages/bob_3.jpg,2,2,query"
)


def load_csv_dataset(csv_file_path: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(train_df, query_df, gallery_df) from a CSV file; see the module docstring."""
    if not os.path.isfile(csv_file_path):
        raise DatasetError(
            f"CSV dataset: expected the file {csv_file_path!r}, which does not exist. Pass it as "
            "--dataset_name path/to/file.csv, or --dataset_name CSV with --root_folder_path "
            f"set to the file (or to a folder holding dataset.csv). Expected content:\n{EXAMPLE}"
        )
    try:
        frame = pd.read_csv(csv_file_path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DatasetError(
            f"CSV dataset {csv_file_path!r} cannot be read as CSV: {str(error).strip()}. Each "
            "line needs the header's number of comma-separated fields. Expected content:\n"
            + EXAMPLE
        ) from error
    missing_columns = {"image_file_path", "identity_ID", "split"} - set(frame.columns)
    if missing_columns:
        raise DatasetError(
            f"CSV dataset {csv_file_path!r}: missing the columns {sorted(missing_columns)}; "
            f"found {list(frame.columns)}. Expected content:\n{EXAMPLE}"
        )
    frame["split"] = frame["split"].astype(str).str.strip().str.lower()
    unknown_splits = sorted(set(frame["split"]) - set(SPLIT_NAMES))
    if unknown_splits:
        raise DatasetError(
            f"CSV dataset {csv_file_path!r}: the split column holds {unknown_splits}; "
            f"expected only {list(SPLIT_NAMES)}."
        )
    csv_folder_path = os.path.dirname(os.path.abspath(csv_file_path))
    frame["image_file_path"] = [
        os.path.normpath(os.path.join(csv_folder_path, str(path)))
        for path in frame["image_file_path"]
    ]
    check_each_image_listed_once(frame, csv_file_path)
    if not pd.api.types.is_integer_dtype(frame["identity_ID"]):
        names = frame["identity_ID"].astype(str)
        frame["identity_ID"] = np.searchsorted(np.unique(names), names) + 1
    if "camera_ID" not in frame.columns:
        frame["camera_ID"] = np.arange(len(frame))
    elif not pd.api.types.is_integer_dtype(frame["camera_ID"]):
        cameras = frame["camera_ID"].astype(str)
        frame["camera_ID"] = np.searchsorted(np.unique(cameras), cameras)
    split_frames = []
    for split_name in SPLIT_NAMES:
        split_frame = frame.loc[frame["split"] == split_name, COLUMNS].reset_index(drop=True)
        if split_frame.empty:
            raise DatasetError(
                f"CSV dataset {csv_file_path!r}: no rows with split == {split_name!r}; "
                f"each of {list(SPLIT_NAMES)} needs at least one image."
            )
        split_frames.append(split_frame.astype({"identity_ID": "int64", "camera_ID": "int64"}))
    return tuple(split_frames)


def check_each_image_listed_once(frame: pd.DataFrame, csv_file_path: str) -> None:
    """An image listed twice would count twice in training, or sit in two splits at once."""
    repeated = frame["image_file_path"].duplicated(keep=False)
    if not repeated.any():
        return
    first_path = frame.loc[repeated, "image_file_path"].iloc[0]
    lines = (frame.index[frame["image_file_path"] == first_path] + 2).tolist()  # 1: the header
    raise DatasetError(
        f"CSV dataset {csv_file_path!r}: {frame.loc[repeated, 'image_file_path'].nunique()} "
        f"image(s) are listed more than once, the first {first_path!r} on lines "
        f"{', '.join(map(str, lines))}. List each image once, in one split."
    )
