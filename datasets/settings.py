"""Which dataset a run trains on and which it tests on: the dataset flags, checked as they
are built."""

import os
from dataclasses import dataclass

from .common import DatasetError
from .testing_subset import check_testing_size

DATASET_NAMES = ("Market1501", "DukeMTMC_reID", "MSMT17", "Synthetic", "CSV")


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
