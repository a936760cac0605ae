"""Market1501, DukeMTMC-reID and CUHK03-NP: three folders of images whose names carry identity
and camera.

Market1501 (Zheng et al., ICCV 2015), folder Market-1501-v15.09.15:
    bounding_box_train 12,936 images of 751 identities; query 3,368 images of 750 identities;
    bounding_box_test 19,732 images, of which 3,819 are junk (identity -1, dropped here) and
    2,793 distractors (identity 0000, kept as non-matches): 15,913 usable gallery images.
    File name `0002_c1s1_000451_03.jpg`: identity 0002, camera 1, sequence 1, frame 451.
DukeMTMC-reID (Zheng et al., ICCV 2017), folder DukeMTMC-reID:
    bounding_box_train 16,522 images of 702 identities; query 2,228; bounding_box_test 17,661.
    File name `0001_c2_f0046182.jpg`: identity 0001, camera 2. The dataset was withdrawn by its
    authors; copies held by users keep working here.
CUHK03 (Li et al., CVPR 2014) in the new protocol of Zhong et al. (CVPR 2017), CUHK03-NP,
folder cuhk03-np/labeled (boxes drawn by hand) or cuhk03-np/detected (by a detector):
    767 training and 700 test identities, 2 cameras per identity pair; labeled 7,368 training,
    1,400 query and 5,328 gallery images, detected 7,365, 1,400 and 5,332. File name
    `0001_c1_1.png`: identity 0001, camera 1, image 1. No junk and no distractors.
"""

import os
import re
from dataclasses import dataclass

import pandas as pd

from .common import (
    DatasetError,
    list_image_file_names,
    make_frame,
    require_path,
    warn_if_count_differs,
)

# Identity (-1 for junk, 0 for distractors) then camera; the rest of the name varies by dataset.
FILE_NAME_PATTERN = re.compile(r"^(?P<identity_ID>-1|\d+)_c(?P<camera_ID>\d+)")
JUNK_IDENTITY_ID = -1
SPLIT_FOLDER_NAMES = {
    "train": "bounding_box_train",
    "query": "query",
    "gallery": "bounding_box_test",
}


@dataclass(frozen=True)
class FolderDataset:
    """How one Market-style dataset is laid out and how many images each split officially has."""

    name: str
    folder_name: str  # under --root_folder_path; may have several parts (cuhk03-np/labeled)
    official_counts: dict[str, int] | None
    where_to_get: str
    image_extension: str = ".jpg"  # of its files, for the layout in messages


MARKET1501 = FolderDataset(
    name="Market1501",
    folder_name="Market-1501-v15.09.15",
    official_counts={"train": 12936, "query": 3368, "gallery": 19732},
    where_to_get=(
        "Market-1501 is distributed by its authors (Zheng et al., ICCV 2015) as "
        "Market-1501-v15.09.15.zip; unzip it under --root_folder_path."
    ),
)
DUKEMTMC_REID = FolderDataset(
    name="DukeMTMC_reID",
    folder_name="DukeMTMC-reID",
    official_counts={"train": 16522, "query": 2228, "gallery": 17661},
    where_to_get=(
        "DukeMTMC-reID was withdrawn by its authors and has no official download any more; "
        "if you hold a copy (DukeMTMC-reID.zip), unzip it under --root_folder_path."
    ),
)

CUHK03_WHERE_TO_GET = (
    "CUHK03-NP is CUHK03 (Li et al., CVPR 2014) split by the new protocol of Zhong et al. "
    "(CVPR 2017), distributed with their re-ranking code as cuhk03-np with labeled/ and "
    "detected/ folders of PNG files; unpack it under --root_folder_path."
)
CUHK03_NP_LABELED = FolderDataset(
    name="CUHK03_NP_labeled",
    folder_name="cuhk03-np/labeled",
    official_counts={"train": 7368, "query": 1400, "gallery": 5328},
    where_to_get=CUHK03_WHERE_TO_GET,
    image_extension=".png",
)
CUHK03_NP_DETECTED = FolderDataset(
    name="CUHK03_NP_detected",
    folder_name="cuhk03-np/detected",
    official_counts={"train": 7365, "query": 1400, "gallery": 5332},
    where_to_get=CUHK03_WHERE_TO_GET,
    image_extension=".png",
)
FOLDER_DATASETS = {
    dataset.name: dataset
    for dataset in (MARKET1501, DUKEMTMC_REID, CUHK03_NP_LABELED, CUHK03_NP_DETECTED)
}


def describe_layout(dataset: FolderDataset) -> str:
    return "\n".join(
        f"  {dataset.folder_name}/{split_folder_name}/*{dataset.image_extension}"
        for split_folder_name in SPLIT_FOLDER_NAMES.values()
    )


def parse_file_name(file_name: str, folder_path: str) -> tuple[int, int]:
    """(identity_ID, camera_ID) from a Market-style file name; DatasetError names a bad file."""
    match = FILE_NAME_PATTERN.match(file_name)
    if match is None:
        raise DatasetError(
            f"Cannot read identity and camera from the file name {file_name!r} in {folder_path!r}: "
            "expected names like 0002_c1s1_000451_03.jpg (identity 0002, camera 1). "
            "Move files with other names out of the dataset folders."
        )
    return int(match["identity_ID"]), int(match["camera_ID"])


def load_split(
    folder_path: str, dataset_name: str, split_name: str, official_count: int | None
) -> pd.DataFrame:
    file_names = list_image_file_names(folder_path)
    warn_if_count_differs(dataset_name, split_name, len(file_names), official_count)
    records = []
    for file_name in file_names:
        identity_ID, camera_ID = parse_file_name(file_name, folder_path)
        if identity_ID != JUNK_IDENTITY_ID:
            records.append((os.path.join(folder_path, file_name), identity_ID, camera_ID))
    if not records:
        raise DatasetError(
            f"{dataset_name} {split_name}: the folder {folder_path!r} holds no usable images "
            f"(found {len(file_names)} image files). Check that the dataset was fully extracted."
        )
    return make_frame(records)


def load_folder_dataset(
    root_folder_path: str, dataset: FolderDataset
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(train_df, query_df, gallery_df) of a Market-style dataset under root_folder_path."""
    dataset_folder_path = os.path.join(root_folder_path, dataset.folder_name)
    layout = describe_layout(dataset)
    require_path(root_folder_path, dataset.name, layout, dataset.where_to_get)
    require_path(dataset_folder_path, dataset.name, layout, dataset.where_to_get)
    split_folder_paths = {
        split_name: os.path.join(dataset_folder_path, split_folder_name)
        for split_name, split_folder_name in SPLIT_FOLDER_NAMES.items()
    }
    for split_folder_path in split_folder_paths.values():
        require_path(split_folder_path, dataset.name, layout, dataset.where_to_get)
    train_df, query_df, gallery_df = (
        load_split(
            split_folder_path,
            dataset.name,
            split_name,
            None if dataset.official_counts is None else dataset.official_counts[split_name],
        )
        for split_name, split_folder_path in split_folder_paths.items()
    )
    return train_df, query_df, gallery_df
