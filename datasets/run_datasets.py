"""The datasets of one run: the training datasets' frames (one, or the union of several with
their identities kept apart, with --combineall their test images too) and the test sets to
evaluate on, unreadable images left out, the test sets reduced to --testing_size, statistics
printed."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from settings import DatasetSettings, SyntheticSettings

from .image_files import find_readable_images
from .loading import camera_caution, describe_dataset, load_accumulated_info_of_dataset
from .testing_subset import select_testing_subset

if TYPE_CHECKING:  # scikit-learn takes a second to import: loaded where an encoder is fitted
    from sklearn.preprocessing import LabelEncoder


@dataclass(frozen=True)
class TestingSet:
    """One dataset to evaluate on: its query and gallery images, its label and log prefix."""

    label: str
    log_prefix: str  # "test" for the dataset the best model is chosen by
    query_df: pd.DataFrame
    gallery_df: pd.DataFrame


def load_dataset(
    name: str,
    root: str,
    *,
    dataset: DatasetSettings,
    synthetic: SyntheticSettings,
    workers: int,
    whole_test_set: bool = False,
    split_index: int | None = None,
):
    """(train_df, query_df, gallery_df, encoders) of one dataset (of a dataset with fixed
    splits: split split_index, default --split_index): unreadable images left out, the test
    set reduced to --testing_size (unless whole_test_set: --combineall trains on all of it);
    prints the statistics."""
    split_index = dataset.split_index if split_index is None else split_index
    train_df, query_df, gallery_df, encoders = load_accumulated_info_of_dataset(
        root, name, synthetic=synthetic, split_index=split_index
    )
    train_df, query_df, gallery_df = (
        drop_unreadable_images(frame, split_name, workers=workers)
        for frame, split_name in ((train_df, "train"), (query_df, "query"), (gallery_df, "gallery"))
    )
    if not whole_test_set:
        query_df, gallery_df = select_testing_subset(
            query_df, gallery_df, dataset.testing_size, seed=0
        )
    statistics = describe_dataset(train_df, query_df, gallery_df)
    print(f"{dataset.label_of(name, split_index)}:\n{statistics}", flush=True)
    return train_df, query_df, gallery_df, encoders


@dataclass(frozen=True)
class TrainingData:
    """What a run trains on, and the test sets of its training datasets."""

    train_df: pd.DataFrame
    identity_encoder: "LabelEncoder"  # fitted on train_df's identities
    dataset_of_rows: np.ndarray | None  # (len(train_df),) index into training_dataset_names
    test_sets: dict[str, tuple[pd.DataFrame, pd.DataFrame]]  # name: (query_df, gallery_df)


# Identities that --combineall leaves out of a test set: distractors (0) and junk (-1), and
# PRID2011's 549 people seen by one camera only (one image each), as torchreid does.
LEFT_OUT_OF_COMBINEALL = {"PRID2011": set(range(201, 750))}


def load_training_datasets(
    *, dataset: DatasetSettings, synthetic: SyntheticSettings, workers: int
) -> TrainingData:
    """The training frame. One dataset without --combineall: its frame as it is (identities as
    the dataset numbers them). Several, or --combineall: the union, each identity renamed
    "<dataset label>_<number>" (test identities "<label>_test_<number>") so that two
    datasets' person 1 stay two people, as fast-reid does; the statistics of each printed."""
    names = dataset.training_dataset_names
    root = dataset.root_folder_path
    if len(names) == 1 and not dataset.combineall:
        train_df, query_df, gallery_df, encoders = load_dataset(
            names[0], root, dataset=dataset, synthetic=synthetic, workers=workers
        )
        return TrainingData(
            train_df, encoders["identity_ID"], None, {names[0]: (query_df, gallery_df)}
        )
    parts, test_sets = [], {}
    for name in names:
        train_df, query_df, gallery_df, _ = load_dataset(
            name,
            root,
            dataset=dataset,
            synthetic=synthetic,
            workers=workers,
            whole_test_set=dataset.combineall,
        )
        label = dataset.label_of(name)
        part = [renamed(train_df, f"{label}_")]
        if dataset.combineall:
            left_out = {0, -1} | LEFT_OUT_OF_COMBINEALL.get(name, set())
            test_df = pd.concat([query_df, gallery_df], ignore_index=True)
            test_df = test_df[~test_df["identity_ID"].isin(left_out)]
            part.append(renamed(test_df, f"{label}_test_"))
        else:
            test_sets[name] = (query_df, gallery_df)
        parts.append(pd.concat(part, ignore_index=True))
    train_df = pd.concat(parts, ignore_index=True)
    dataset_of_rows = np.repeat(np.arange(len(parts)), [len(part) for part in parts])
    print(describe_training_union(dataset, parts, combineall=dataset.combineall), flush=True)
    from sklearn.preprocessing import LabelEncoder

    encoder = LabelEncoder().fit(train_df["identity_ID"])
    return TrainingData(train_df, encoder, dataset_of_rows, test_sets)


def renamed(frame: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """The frame with identity n renamed prefix + n (a string), rows in the same order."""
    return frame.assign(identity_ID=[f"{prefix}{identity}" for identity in frame["identity_ID"]])


def describe_training_union(
    dataset: DatasetSettings, parts: list[pd.DataFrame], *, combineall: bool
) -> str:
    """Which datasets the run trains on: images and identities of each and of the union."""
    labels = dataset.training_labels
    what = " (with their query and gallery images: --combineall)" if combineall else ""
    width = max(len(label) for label in ("total", *labels)) + 2
    lines = [
        f"Training on {len(labels)} dataset{'s' if len(labels) > 1 else ''}{what}, identities "
        "kept apart (renamed <dataset>_<number>):",
        f"{'dataset':<{width}}{'images':>9}{'identities':>12}",
    ]
    for label, part in zip(labels, parts, strict=True):
        lines.append(f"{label:<{width}}{len(part):>9}{part['identity_ID'].nunique():>12}")
    total = pd.concat(parts)
    lines.append(f"{'total':<{width}}{len(total):>9}{total['identity_ID'].nunique():>12}")
    return "\n".join(lines)


def load_testing_sets(
    *,
    dataset: DatasetSettings,
    synthetic: SyntheticSettings,
    workers: int,
    training_test_sets: dict[str, tuple[pd.DataFrame, pd.DataFrame]] | None,
) -> list[TestingSet]:
    """The test datasets (--testing_dataset_names, or the training datasets' test sets, given
    by name in training_test_sets), the watched one first; none with --testing_size 0."""
    if dataset.testing_size == 0:
        return []
    training_test_sets = training_test_sets or {}
    watched = dataset.watched_source
    testing_sets = []
    for source in dataset.testing_sources:
        if source.dataset_name in training_test_sets and source.is_training_dataset(dataset):
            query_df, gallery_df = training_test_sets[source.dataset_name]
        else:
            _, query_df, gallery_df, _ = load_dataset(
                source.dataset_name,
                source.root_folder_path,
                dataset=dataset,
                synthetic=synthetic,
                workers=workers,
                split_index=source.split_index,
            )
        caution = camera_caution(source.label, query_df, gallery_df)
        if caution:
            print(caution, flush=True)
        if not (len(query_df) and len(gallery_df)):
            continue
        prefix = "test" if source == watched else f"test_{source.label}"
        testing_sets.append(TestingSet(source.label, prefix, query_df, gallery_df))
    return sorted(testing_sets, key=lambda testing_set: testing_set.log_prefix != "test")


def drop_unreadable_images(frame: pd.DataFrame, split_name: str, *, workers: int) -> pd.DataFrame:
    readable = find_readable_images(frame["image_file_path"], workers=workers)
    if not readable.all():
        unreadable_paths = frame["image_file_path"][~readable].tolist()
        print(
            f"Warning: {len(unreadable_paths)} {split_name} images cannot be read and are left "
            f"out: {', '.join(unreadable_paths[:5])}{' ...' if len(unreadable_paths) > 5 else ''}",
            flush=True,
        )
    return frame[readable].reset_index(drop=True)
