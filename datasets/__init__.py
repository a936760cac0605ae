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
from .fingerprint import dataset_fingerprint, describe_changes
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
    "TestingSource",
    "camera_caution",
    "dataset_fingerprint",
    "describe_changes",
    "describe_dataset",
    "generate_synthetic_dataset",
    "load_accumulated_info_of_dataset",
    "select_testing_subset",
]


@dataclass(frozen=True)
class DatasetSettings:
    """Which dataset, where, how much of its test set, and which datasets to test on; field
    names are the flags.

    testing_dataset_names: the datasets to evaluate on (default: the training dataset), each a
    name of DATASET_NAMES or the path of a .csv file, optionally with "@" and another root
    folder (Market1501@/data/other); the best model is chosen by the training dataset's mAP when
    it is one of them, else by the first.
    """

    root_folder_path: str = "~/Documents/Local Storage/Dataset"
    dataset_name: str = "Market1501"
    testing_size: float = 1.0
    testing_dataset_names: tuple[str, ...] = ()

    def __post_init__(self):
        check_testing_size(self.testing_size)
        object.__setattr__(self, "testing_dataset_names", tuple(self.testing_dataset_names))
        labels = [source.label for source in self.testing_sources]
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            raise DatasetError(
                f"--testing_dataset_names names {', '.join(repeated)} more than once; each test "
                "dataset needs a name of its own (a CSV file is named after the file)."
            )

    @property
    def label(self) -> str:
        """The dataset's name in folder names: for a CSV file, the file's name."""
        return dataset_label(self.dataset_name)

    @property
    def testing_sources(self) -> list["TestingSource"]:
        """The test datasets: testing_dataset_names, or the training dataset."""
        entries = self.testing_dataset_names or (self.dataset_name,)
        sources = []
        for entry in entries:
            name, separator, root = entry.partition("@")
            sources.append(
                TestingSource(
                    label=dataset_label(name),
                    dataset_name=name,
                    root_folder_path=root if separator else self.root_folder_path,
                )
            )
        return sources

    @property
    def watched_source(self) -> "TestingSource":
        """The test dataset the best model is chosen by: the training dataset if it is tested,
        else the first."""
        sources = self.testing_sources
        for source in sources:
            if source.is_training_dataset(self):
                return source
        return sources[0]


@dataclass(frozen=True)
class TestingSource:
    """A dataset to evaluate on: its label (in log entries and file names), name and root."""

    label: str
    dataset_name: str
    root_folder_path: str

    def is_training_dataset(self, settings: DatasetSettings) -> bool:
        return self.dataset_name == settings.dataset_name and os.path.abspath(
            os.path.expanduser(self.root_folder_path)
        ) == os.path.abspath(os.path.expanduser(settings.root_folder_path))


def dataset_label(dataset_name: str) -> str:
    """A dataset's name in folder names and log entries: for a CSV file, the file's name."""
    return os.path.splitext(os.path.basename(dataset_name))[0]


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
    try:
        train_df, query_df, gallery_df = load_frames(
            root_folder_path, dataset_name, synthetic=synthetic
        )
    except PermissionError as error:
        raise DatasetError(
            f"{dataset_name}: cannot read {error.filename!r}: permission denied for this user. "
            "Give the user read permission on the dataset's folders and files (for example "
            "chmod -R a+rX on the dataset folder), or copy the dataset somewhere readable and "
            "point --root_folder_path there."
        ) from error
    label_encoder = LabelEncoder().fit(train_df["identity_ID"])
    return train_df, query_df, gallery_df, {"identity_ID": label_encoder}


def load_frames(root_folder_path: str, dataset_name: str, *, synthetic: SyntheticSettings | None):
    """(train_df, query_df, gallery_df) of one dataset by name."""
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
