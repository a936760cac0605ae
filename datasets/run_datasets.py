"""The datasets of one run: the training dataset's frames and the test sets to evaluate on,
unreadable images left out, the test set reduced to --testing_size, statistics printed."""

from dataclasses import dataclass

import pandas as pd

from settings import DatasetSettings, SyntheticSettings, dataset_label

from .image_files import find_readable_images
from .loading import camera_caution, describe_dataset, load_accumulated_info_of_dataset
from .testing_subset import select_testing_subset


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
):
    """(train_df, query_df, gallery_df, encoders) of one dataset: unreadable images left out,
    the test set reduced to --testing_size; prints the statistics."""
    train_df, query_df, gallery_df, encoders = load_accumulated_info_of_dataset(
        root, name, synthetic=synthetic, video_split_index=dataset.video_split_index
    )
    train_df, query_df, gallery_df = (
        drop_unreadable_images(frame, split_name, workers=workers)
        for frame, split_name in ((train_df, "train"), (query_df, "query"), (gallery_df, "gallery"))
    )
    query_df, gallery_df = select_testing_subset(query_df, gallery_df, dataset.testing_size, seed=0)
    statistics = describe_dataset(train_df, query_df, gallery_df)
    print(f"{dataset_label(name)}:\n{statistics}", flush=True)
    return train_df, query_df, gallery_df, encoders


def load_testing_sets(
    *,
    dataset: DatasetSettings,
    synthetic: SyntheticSettings,
    workers: int,
    training_test_set: tuple[pd.DataFrame, pd.DataFrame] | None,
) -> list[TestingSet]:
    """The test datasets (--testing_dataset_names, or the training dataset's test set when it
    is given as training_test_set), the watched one first; none with --testing_size 0."""
    if dataset.testing_size == 0:
        return []
    watched = dataset.watched_source
    testing_sets = []
    for source in dataset.testing_sources:
        if training_test_set is not None and source.is_training_dataset(dataset):
            query_df, gallery_df = training_test_set
        else:
            _, query_df, gallery_df, _ = load_dataset(
                source.dataset_name,
                source.root_folder_path,
                dataset=dataset,
                synthetic=synthetic,
                workers=workers,
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
