"""What every dataset loader shares: the record columns, the errors and the count check."""

import os
import warnings

import pandas as pd

COLUMNS = ["image_file_path", "identity_ID", "camera_ID"]
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


class DatasetError(Exception):
    """A dataset is missing or malformed; the message says what was expected and what to do."""


class DatasetCountWarning(UserWarning):
    """A split holds a different number of images than the official release."""


def require_path(
    path: str, dataset_name: str, layout: str, where_to_get: str, *, kind: str = "folder"
) -> None:
    """Raise DatasetError naming the missing `path` (a "folder" or a "file", such as an MSMT17
    list), the expected layout and where the data comes from."""
    exists = os.path.isdir if kind == "folder" else os.path.isfile
    if exists(path):
        return
    raise DatasetError(
        f"{dataset_name}: expected the {kind} {path!r}, which does not exist.\n"
        f"Expected layout under --root_folder_path:\n{layout}\n"
        f"{where_to_get}\n"
        "Point --root_folder_path at the folder that contains it, or try the built-in "
        "--dataset_name Synthetic, which needs no download."
    )


def list_image_file_names(folder_path: str) -> list[str]:
    """Sorted image file names (not paths) in one folder; other files (Thumbs.db) are ignored."""
    return sorted(
        file_name
        for file_name in os.listdir(folder_path)
        if file_name.lower().endswith(IMAGE_EXTENSIONS)
    )


def warn_if_count_differs(
    dataset_name: str, split_name: str, found_count: int, official_count: int | None
) -> None:
    """Accept subsets and re-packed copies, but say that the numbers will not be comparable."""
    if official_count is None or found_count == official_count:
        return
    warnings.warn(
        f"{dataset_name} {split_name}: found {found_count} images, the official release has "
        f"{official_count}. Continuing; results will not be comparable with published numbers.",
        DatasetCountWarning,
        stacklevel=3,
    )


def make_frame(records: list[tuple[str, int, int]]) -> pd.DataFrame:
    """A frame with the columns image_file_path, identity_ID, camera_ID (integers)."""
    frame = pd.DataFrame(records, columns=COLUMNS)
    return frame.astype({"identity_ID": "int64", "camera_ID": "int64"})
