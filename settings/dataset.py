"""Which dataset a run trains on and which it tests on (and the synthetic set's shape): the
dataset flags, checked as they are built."""

import os
from dataclasses import dataclass

from .checks import (
    SettingsError,
    require_at_least,
)

DATASET_NAMES = (
    "Market1501",
    "DukeMTMC_reID",
    "MSMT17",
    "MSMT17_V1",
    "CUHK03_NP_labeled",
    "CUHK03_NP_detected",
    "Synthetic",
    "CSV",
    # video (datasets/video/): frames of tracklets, evaluated a tracklet at a time
    "MARS",
    "iLIDS_VID",
    "PRID2011",
    "DukeMTMC_VideoReID",
)


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
    video_split_index: int = 0  # iLIDS_VID and PRID2011: which of their ten splits (0 to 9)

    def __post_init__(self):
        check_testing_size(self.testing_size)
        if not 0 <= self.video_split_index <= 9:
            raise SettingsError(
                "--video_split_index must be 0 to 9 (iLIDS_VID and PRID2011 have ten splits); "
                f"got {self.video_split_index}."
            )
        object.__setattr__(self, "testing_dataset_names", tuple(self.testing_dataset_names))
        check_dataset_name(self.dataset_name, flag="--dataset_name")
        for source in self.testing_sources:
            check_dataset_name(source.dataset_name, flag="--testing_dataset_names")
        labels = [source.label for source in self.testing_sources]
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            raise SettingsError(
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


def check_dataset_name(dataset_name: str, *, flag: str) -> None:
    if dataset_name in DATASET_NAMES or dataset_name.lower().endswith(".csv"):
        return
    raise SettingsError(
        f"Unknown dataset_name {dataset_name!r} in {flag}: expected one of "
        f"{', '.join(DATASET_NAMES)} or the path of a .csv file."
    )


def check_testing_size(testing_size: float) -> None:
    if testing_size < 0 or (testing_size > 1 and testing_size != int(testing_size)):
        raise SettingsError(
            "--testing_size must be 0 (no testing), a fraction in (0, 1], or a whole number of "
            f"identities above 1; got {testing_size}."
        )


@dataclass(frozen=True)
class SyntheticSettings:
    """Sizes of the generated dataset; field names are the command-line flags."""

    synthetic_train_identity_num: int = 100
    synthetic_test_identity_num: int = 100
    synthetic_camera_num: int = 6
    synthetic_image_height: int = 128
    synthetic_image_width: int = 64
    seed: int = 0

    def __post_init__(self):
        require_at_least(self, synthetic_train_identity_num=1, synthetic_test_identity_num=1)
        require_at_least(self, synthetic_image_height=16, synthetic_image_width=16)
        if not 2 <= self.synthetic_camera_num <= 9:
            raise SettingsError(
                "--synthetic_camera_num must be between 2 and 9 (one digit in Market1501 file "
                f"names, and a true match needs a second camera); got {self.synthetic_camera_num}."
            )

    @property
    def folder_name(self) -> str:
        """Encodes every setting, so different sizes never overwrite each other."""
        return (
            f"Synthetic_{self.synthetic_train_identity_num}x{self.synthetic_test_identity_num}_"
            f"c{self.synthetic_camera_num}_{self.synthetic_image_height}x"
            f"{self.synthetic_image_width}_seed{self.seed}"
        )
