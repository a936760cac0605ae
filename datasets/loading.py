"""A dataset's train, query and gallery frames by its name (the folder layouts, a CSV
file, the synthetic set), with the identity encoder and printed statistics."""

import os
from typing import TYPE_CHECKING

import pandas as pd

from settings import DATASET_NAMES, SyntheticSettings

from .common import DatasetError
from .csv_dataset import load_csv_dataset
from .cuhk_training_sets import load_cuhk02, load_cuhk_sysu
from .folder_datasets import FOLDER_DATASETS, MARKET1501, FolderDataset, load_folder_dataset
from .msmt17 import MSMT17_VERSIONS, load_msmt17

if TYPE_CHECKING:  # scikit-learn takes a second to import: loaded where an encoder is fitted
    from sklearn.preprocessing import LabelEncoder
from .split_datasets import SPLIT_LOADERS
from .synthetic import generate_synthetic_dataset
from .video import VIDEO_DATASET_NAMES, load_video_dataset


def camera_caution(label: str, query_df: pd.DataFrame, gallery_df: pd.DataFrame) -> str | None:
    """A caution when every test image has a camera of its own (a CSV dataset without cameras):
    then no gallery image is left out for sharing the query's camera, which makes rank-1 and mAP
    higher than under the Market-1501 protocol."""
    cameras = pd.concat([query_df["camera_ID"], gallery_df["camera_ID"]])
    if len(cameras) < 2 or cameras.nunique() < len(cameras):
        return None
    return (
        f"Caution: the test images of {label} have no cameras (each counts as its own), so no "
        "gallery image of the query's identity is left out for being seen by the query's "
        "camera. Its rank-1 and mAP are higher than under the Market-1501 protocol and not "
        "comparable with published numbers; give the CSV file a camera_ID column."
    )


def load_accumulated_info_of_dataset(
    root_folder_path: str,
    dataset_name: str,
    *,
    synthetic: SyntheticSettings | None = None,
    split_index: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, "LabelEncoder"]]:
    """Load one dataset by name.

    Args:
        root_folder_path: the folder holding the dataset folders (for CSV: the .csv file, or a
            folder with dataset.csv; for Synthetic: where the generated tree is written).
        dataset_name: one of DATASET_NAMES, or the path of a .csv file.
        synthetic: the sizes and seed of the Synthetic dataset (default: SyntheticSettings()).
        split_index: which of the 10 splits of VIPeR, GRID, PRID2011, iLIDS,
            iLIDS_VID and PRID2011_video (0 to 9).
    Returns:
        (train_df, query_df, gallery_df, attribute_name_to_label_encoder_dict): three frames with
        the columns image_file_path, identity_ID, camera_ID, junk images (identity -1) already
        dropped; the dict maps "identity_ID" to a LabelEncoder fitted on the training identities.
        A video dataset's frames (one row per frame) have a fourth column, tracklet_ID.
    """
    root_folder_path = os.path.abspath(os.path.expanduser(root_folder_path))
    try:
        train_df, query_df, gallery_df = load_frames(
            root_folder_path, dataset_name, synthetic=synthetic, split_index=split_index
        )
    except PermissionError as error:
        raise DatasetError(
            f"{dataset_name}: cannot read {error.filename!r}: permission denied for this user. "
            "Give the user read permission on the dataset's folders and files (for example "
            "chmod -R a+rX on the dataset folder), or copy the dataset somewhere readable and "
            "point --root_folder_path there."
        ) from error
    from sklearn.preprocessing import LabelEncoder

    label_encoder = LabelEncoder().fit(train_df["identity_ID"])
    return train_df, query_df, gallery_df, {"identity_ID": label_encoder}


def load_frames(
    root_folder_path: str,
    dataset_name: str,
    *,
    synthetic: SyntheticSettings | None,
    split_index: int = 0,
):
    """(train_df, query_df, gallery_df) of one dataset by name (a new layout: a branch here,
    a loader module beside this one)."""
    if dataset_name in VIDEO_DATASET_NAMES:
        frames = load_video_dataset(root_folder_path, dataset_name, split_index=split_index)
    elif dataset_name in FOLDER_DATASETS:
        frames = load_folder_dataset(root_folder_path, FOLDER_DATASETS[dataset_name])
    elif dataset_name in MSMT17_VERSIONS:
        frames = load_msmt17(root_folder_path, MSMT17_VERSIONS[dataset_name])
    elif dataset_name in SPLIT_LOADERS:
        frames = SPLIT_LOADERS[dataset_name](root_folder_path, split_index)
    elif dataset_name == "CUHK02":
        frames = load_cuhk02(root_folder_path)
    elif dataset_name == "CUHK_SYSU":
        frames = load_cuhk_sysu(root_folder_path)
    elif dataset_name == "Synthetic":
        synthetic_root_path = generate_synthetic_dataset(
            root_folder_path, synthetic or SyntheticSettings()
        )
        synthetic_layout = FolderDataset("Synthetic", MARKET1501.folder_name, None, "")
        frames = load_folder_dataset(synthetic_root_path, synthetic_layout)
    elif dataset_name == "CSV" or dataset_name.lower().endswith(".csv"):
        csv_file_path = (
            os.path.expanduser(dataset_name) if dataset_name != "CSV" else root_folder_path
        )
        if os.path.isdir(csv_file_path):
            csv_file_path = os.path.join(csv_file_path, "dataset.csv")
        frames = load_csv_dataset(csv_file_path)
    else:
        raise DatasetError(
            f"Unknown dataset_name {dataset_name!r}: expected one of {', '.join(DATASET_NAMES)} "
            "or the path of a .csv file."
        )
    return frames


def describe_dataset(
    train_df: pd.DataFrame, query_df: pd.DataFrame, gallery_df: pd.DataFrame
) -> str:
    """A small table: images, identities and cameras per split."""
    lines = [f"{'split':<8}{'images':>9}{'identities':>12}{'cameras':>9}"]
    for split_name, frame in (("train", train_df), ("query", query_df), ("gallery", gallery_df)):
        lines.append(
            f"{split_name:<8}{len(frame):>9}{frame['identity_ID'].nunique():>12}"
            f"{frame['camera_ID'].nunique():>9}"
        )
    return "\n".join(lines)
