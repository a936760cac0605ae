"""Which dataset a run trains on and which it tests on (and the synthetic set's shape): the
dataset flags, checked as they are built."""

import os
import re
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
    "VIPeR",
    "GRID",
    "PRID2011",
    "iLIDS",
    "CUHK02",
    "CUHK_SYSU",
    # video (datasets/video/): frames of tracklets, evaluated a tracklet at a time
    "MARS",
    "iLIDS_VID",
    "PRID2011_video",
    "DukeMTMC_VideoReID",
)
# The small domain-generalisation test sets: 10 fixed train/test splits each, --split_index.
SPLIT_DATASET_NAMES = ("VIPeR", "GRID", "PRID2011", "iLIDS")
SPLIT_NUM = 10
# Datasets without a test set: training only.
TRAINING_ONLY_DATASET_NAMES = ("CUHK_SYSU",)
# In --testing_dataset_names: VIPeR_split3 (split 3), VIPeR_split0-9 (each of the ten).
SPLIT_ENTRY = re.compile(
    rf"^(?P<name>{'|'.join(SPLIT_DATASET_NAMES)})_split(?P<first>\d)(?:-(?P<last>\d))?$"
)


@dataclass(frozen=True)
class DatasetSettings:
    """Which datasets, where, how much of their test sets, and which datasets to test on; field
    names are the flags.

    dataset_name: one name of DATASET_NAMES or the path of a .csv file, or several of them
    separated by commas or "+" (Market1501,DukeMTMC_reID or Market1501+DukeMTMC_reID, the form
    for sweep.py's --grid, where commas separate values): the run trains on their union, each
    dataset's identities kept apart (relabelled with the dataset's name).
    testing_dataset_names: the datasets to evaluate on (default: the training datasets that
    have a test set), each a name of DATASET_NAMES or the path of a .csv file, optionally with
    "@" and another root folder (Market1501@/data/other); a dataset with fixed splits tests on
    split --split_index, or on the one named (VIPeR_split3), or on each of several
    (VIPeR_split0-9); the best model is chosen by the first training dataset's mAP when it is
    one of them, else by the first.
    combineall: train on the training datasets' query and gallery images too (their test
    identities become training identities), as torchreid's combineall; such a dataset cannot
    also be a test dataset of the run.
    split_index: which of the 10 fixed splits of VIPeR, GRID, PRID2011 and iLIDS to use.
    one_dataset_per_batch: draw all identities of each P x K batch from one training dataset
    (chosen in proportion to its identities), as domain-generalisation methods do.
    """

    root_folder_path: str = "~/Documents/Local Storage/Dataset"
    dataset_name: str = "Market1501"
    testing_size: float = 1.0
    testing_dataset_names: tuple[str, ...] = ()
    combineall: bool = False
    split_index: int = 0
    one_dataset_per_batch: bool = False

    def __post_init__(self):
        check_testing_size(self.testing_size)
        object.__setattr__(self, "testing_dataset_names", tuple(self.testing_dataset_names))
        if not 0 <= self.split_index < SPLIT_NUM:
            raise SettingsError(
                f"--split_index must be between 0 and {SPLIT_NUM - 1} (the fixed splits of "
                f"{', '.join(SPLIT_DATASET_NAMES)}); got {self.split_index}."
            )
        names = self.training_dataset_names
        if not names:
            raise SettingsError("--dataset_name is empty: name at least one dataset.")
        for name in names:
            check_dataset_name(name, flag="--dataset_name")
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise SettingsError(
                f"--dataset_name names {', '.join(repeated)} more than once; name each "
                "training dataset once."
            )
        for source in self.testing_sources:
            check_dataset_name(source.dataset_name, flag="--testing_dataset_names")
            if source.dataset_name in TRAINING_ONLY_DATASET_NAMES:
                raise SettingsError(
                    f"--testing_dataset_names names {source.dataset_name}, which has no test "
                    "set (it is for training only); test on another dataset."
                )
        labels = [source.label for source in self.testing_sources]
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            raise SettingsError(
                f"--testing_dataset_names names {', '.join(repeated)} more than once; each test "
                "dataset needs a name of its own (a CSV file is named after the file)."
            )
        self.check_combineall()
        if self.one_dataset_per_batch and len(names) < 2:
            raise SettingsError(
                "--one_dataset_per_batch draws each batch from one of the training datasets, "
                f"but --dataset_name names one ({self.dataset_name}). Name several "
                "(Market1501,DukeMTMC_reID) or leave out --one_dataset_per_batch."
            )

    def check_combineall(self) -> None:
        """A dataset trained on with its test images cannot also be tested on."""
        if not self.combineall or self.testing_size == 0:
            return
        if not self.testing_dataset_names:
            raise SettingsError(
                f"--combineall trains on the query and gallery images of {self.dataset_name}, "
                "so they cannot also test the model, and no other test dataset is named. Name "
                "the datasets to test on with --testing_dataset_names (e.g. VIPeR,GRID), or "
                "set --testing_size 0 to train without testing."
            )
        trained_on = [s.label for s in self.testing_sources if s.is_training_dataset(self)]
        if trained_on:
            raise SettingsError(
                f"--combineall trains on the query and gallery images of {self.dataset_name}, "
                f"so {', '.join(trained_on)} cannot also be a test dataset of this run (its "
                "test images would be training images). Remove it from "
                "--testing_dataset_names, or leave out --combineall."
            )

    @property
    def training_dataset_names(self) -> tuple[str, ...]:
        """The names in --dataset_name, in order (a CSV file whose path holds "," or "+",
        my+data.csv, stays one name)."""
        names = [name.strip() for name in re.split("[,+]", self.dataset_name) if name.strip()]
        whole = self.dataset_name.strip()
        if len(names) > 1 and is_dataset_name(whole) and not all(map(is_dataset_name, names)):
            return (whole,)
        return tuple(names)

    @property
    def training_labels(self) -> tuple[str, ...]:
        """The training datasets' labels (with the split of a split dataset: VIPeR_split0)."""
        return tuple(self.label_of(name) for name in self.training_dataset_names)

    def label_of(self, dataset_name: str, split_index: int | None = None) -> str:
        """A dataset's name in folder names, log entries and results: the file name of a CSV
        file; VIPeR_split3 for split 3 (default: --split_index) of a dataset with fixed
        splits."""
        label = dataset_label(dataset_name)
        if dataset_name in SPLIT_DATASET_NAMES:
            split = self.split_index if split_index is None else split_index
            label = f"{label}_split{split}"
        return label

    @property
    def label(self) -> str:
        """The run's training datasets in folder names: Market1501, or
        Market1501+DukeMTMC_reID for several."""
        return "+".join(self.training_labels)

    @property
    def testing_sources(self) -> list["TestingSource"]:
        """The test datasets: testing_dataset_names, or the training datasets that have a test
        set."""
        entries = self.testing_dataset_names or tuple(
            name for name in self.training_dataset_names if name not in TRAINING_ONLY_DATASET_NAMES
        )
        sources = []
        for entry in entries:
            name, separator, root = entry.partition("@")
            split_indexes = [self.split_index]
            named_split = SPLIT_ENTRY.match(name)
            if named_split:
                name, first = named_split["name"], int(named_split["first"])
                last = int(named_split["last"] or first)
                split_indexes = list(range(first, last + 1))
                if not split_indexes:
                    raise SettingsError(
                        f"--testing_dataset_names: {entry!r} names no split; write the first "
                        "split before the last (VIPeR_split0-9)."
                    )
            for split_index in split_indexes:
                sources.append(
                    TestingSource(
                        label=self.label_of(name, split_index),
                        dataset_name=name,
                        root_folder_path=root if separator else self.root_folder_path,
                        split_index=split_index,
                    )
                )
        return sources

    @property
    def watched_source(self) -> "TestingSource | None":
        """The test dataset the best model is chosen by: the first training dataset that is
        tested, else the first test dataset (None: there is none)."""
        sources = self.testing_sources
        for name in self.training_dataset_names:
            for source in sources:
                if source.dataset_name == name and source.is_training_dataset(self):
                    return source
        return sources[0] if sources else None


@dataclass(frozen=True)
class TestingSource:
    """A dataset to evaluate on: its label (in log entries and file names), name and root."""

    label: str
    dataset_name: str
    root_folder_path: str
    split_index: int = 0  # of a dataset with fixed splits

    def is_training_dataset(self, settings: DatasetSettings) -> bool:
        """One of the run's training datasets (the same name, in the same root folder, with the
        same split)."""
        return (
            self.dataset_name in settings.training_dataset_names
            and os.path.abspath(os.path.expanduser(self.root_folder_path))
            == os.path.abspath(os.path.expanduser(settings.root_folder_path))
            and (
                self.dataset_name not in SPLIT_DATASET_NAMES
                or self.split_index == settings.split_index
            )
        )


def dataset_label(dataset_name: str) -> str:
    """A dataset's name in folder names and log entries: for a CSV file, the file's name."""
    return os.path.splitext(os.path.basename(dataset_name))[0]


def is_dataset_name(dataset_name: str) -> bool:
    """A name of DATASET_NAMES or the path of a .csv file."""
    return dataset_name in DATASET_NAMES or dataset_name.lower().endswith(".csv")


def check_dataset_name(dataset_name: str, *, flag: str) -> None:
    if is_dataset_name(dataset_name):
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
