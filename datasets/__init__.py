"""Where the images come from: Market1501, DukeMTMC_reID, MSMT17, a CSV of your own, Synthetic.

Every loader returns frames with the columns image_file_path, identity_ID, camera_ID. This
package imports no TensorFlow.
"""

import os
from dataclasses import dataclass

import pandas as pd
from sklearn.preprocessing import LabelEncoder

from .common import DatasetCountWarning, DatasetError
from .csv_dataset import load_csv_dataset
from .market1501 import DUKEMTMC_REID, MARKET1501, FolderDataset, load_folder_dataset
from .msmt17 import load_msmt17
from .synthetic import SyntheticSettings, generate_synthetic_dataset
from .testing_subset import check_testing_size, select_testing_subset

DATASET_NAMES = ("Market1501", "DukeMTMC_reID", "MSMT17", "Synthetic", "CSV")

__all__ = [
    "DATASET_NAMES",
    "DatasetCountWarning",
    "DatasetError",
    "DatasetSettings",
    "SyntheticSettings",
    "describe_dataset",
    "generate_synthetic_dataset",
    "load_accumulated_info_of_dataset",
    "select_testing_subset",
]


@dataclass(frozen=True)
class DatasetSettings:
    """Which dataset, where, and how much of its test set; field names are the flags."""

    root_folder_path: str = "~/Documents/Local Storage/Dataset"
    dataset_name: str = "Market1501"
    testing_size: float = 1.0

    def __post_init__(self):
        check_testing_size(self.testing_size)

    @property
    def label(self) -> str:
        """The dataset's name in folder names: for a CSV file, the file's name."""
        return os.path.splitext(os.path.basename(self.dataset_name))[0]


def load_accumulated_info_of_dataset(
    root_folder_path: str,
    dataset_name: str,
    *,
    synthetic: SyntheticSettings | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, LabelEncoder]]:
    """Load one dataset by name.

    Args:
        root_folder_path: the folder holding the dataset folders (for CSV: the .csv file, or a
            folder with dataset.csv; for Synthetic: where the generated tree is written).
        dataset_name: one of DATASET_NAMES, or the path of a .csv file.
        synthetic: the sizes and seed of the Synthetic dataset (default: SyntheticSettings()).
    Returns:
        (train_df, query_df, gallery_df, attribute_name_to_label_encoder_dict): three frames with
        the columns image_file_path, identity_ID, camera_ID, junk images (identity -1) already
        dropped; the dict maps "identity_ID" to a LabelEncoder fitted on the training identities.
    """
    root_folder_path = os.path.abspath(os.path.expanduser(root_folder_path))
    if dataset_name == "Market1501":
        frames = load_folder_dataset(root_folder_path, MARKET1501)
    elif dataset_name == "DukeMTMC_reID":
        frames = load_folder_dataset(root_folder_path, DUKEMTMC_REID)
    elif dataset_name == "MSMT17":
        frames = load_msmt17(root_folder_path)
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
    train_df, query_df, gallery_df = frames
    label_encoder = LabelEncoder().fit(train_df["identity_ID"])
    return train_df, query_df, gallery_df, {"identity_ID": label_encoder}


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
