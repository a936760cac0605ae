"""What the video loaders share: a frame per row with its tracklet, the tracklet count check and
the .mat reader. The frames of a tracklet are consecutive rows in temporal order."""

import os
import warnings

import numpy as np
import pandas as pd

from ..common import COLUMNS, DatasetCountWarning, DatasetError

TRACKLET_COLUMNS = [*COLUMNS, "tracklet_ID"]


def make_tracklet_frame(records: list[tuple[str, int, int, int]]) -> pd.DataFrame:
    """A frame with the columns image_file_path, identity_ID, camera_ID, tracklet_ID."""
    frame = pd.DataFrame(records, columns=TRACKLET_COLUMNS)
    return frame.astype({"identity_ID": "int64", "camera_ID": "int64", "tracklet_ID": "int64"})


def warn_if_tracklet_count_differs(
    dataset_name: str, split_name: str, found_count: int, official_count: int | None
) -> None:
    """Accept subsets (and the stand-ins of the tests), but say that numbers will not compare."""
    if official_count is None or found_count == official_count:
        return
    warnings.warn(
        f"{dataset_name} {split_name}: found {found_count} tracklets, the official release has "
        f"{official_count}. Continuing; results will not be comparable with published numbers.",
        DatasetCountWarning,
        stacklevel=3,
    )


def read_mat_array(file_path: str, variable_name: str, dataset_name: str) -> np.ndarray:
    """The integer array `variable_name` of a MATLAB .mat file; DatasetError when the file is not
    a .mat file or lacks the variable."""
    from scipy.io import loadmat  # scipy comes with scikit-learn; loaded only for .mat files

    try:
        content = loadmat(file_path)
    except (ValueError, TypeError, OSError) as error:
        raise DatasetError(
            f"{dataset_name}: cannot read {file_path!r} as a MATLAB .mat file ({error}). "
            "Replace it with the file of the dataset's release."
        ) from error
    if variable_name not in content:
        found = sorted(name for name in content if not name.startswith("__"))
        raise DatasetError(
            f"{dataset_name}: {file_path!r} holds the variables {found}, not {variable_name!r}. "
            "Replace it with the file of the dataset's release."
        )
    return np.asarray(content[variable_name]).astype(np.int64)


def list_frames(folder_path: str, extension: str) -> list[str]:
    """Sorted names of the frames (files ending with extension) in one tracklet's folder."""
    return sorted(name for name in os.listdir(folder_path) if name.lower().endswith(extension))
