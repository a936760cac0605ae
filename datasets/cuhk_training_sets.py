"""CUHK02 and CUHK-SYSU, two datasets the small-scale DG protocol trains on, in the layouts
torchreid documents.

CUHK02 (Li and Wang, CVPR 2013), folder cuhk02/Dataset:
    P1 .. P5, five pairs of cameras, each with cam1/*.png and cam2/*.png; 971, 306, 107, 193
    and 239 people (1,816), 2 images per person per camera: 7,264 images. File name
    `0001_1.png`: identity 0001 of that pair. People are numbered per pair, so identities here
    are pair * 10000 + number (P2's 0001 is 20001), cameras 2 * (pair - 1) + 1 and + 2.
    Protocol (torchreid): P1 to P4 train (6,308 images), P5 tests: query cam1 (478), gallery
    cam2 (478). --combineall trains on all five.
CUHK-SYSU (Xiao et al., CVPR 2017, "Joint detection and identification feature learning for
person search"), folder cuhksysu/cropped_images:
    34,574 crops of 11,934 people, file name `p11422_s16929_1.jpg`: person 11422, scene
    16929. For training only (no test set, no cameras: camera 0).
"""

import os
import re

import pandas as pd

from .common import (
    DatasetError,
    list_image_file_names,
    make_frame,
    require_path,
    warn_if_count_differs,
)

CUHK02_PAIRS = ("P1", "P2", "P3", "P4", "P5")
CUHK02_TEST_PAIR = "P5"
CUHK02_OFFICIAL_COUNTS = {"train": 6308, "query": 478, "gallery": 478}
CUHK02_FILE_NAME = re.compile(r"^(?P<identity_ID>\d+)_.*\.png$", re.I)
CUHK02_LAYOUT = "  cuhk02/Dataset/{P1,P2,P3,P4,P5}/{cam1,cam2}/*.png"
CUHK02_WHERE_TO_GET = (
    "CUHK02 (Li and Wang, CVPR 2013) is distributed by its authors on request (CUHK "
    "identification datasets); extract it so that --root_folder_path/cuhk02/Dataset holds P1 .. "
    "P5."
)
CUHK_SYSU_OFFICIAL_COUNT = 34574
CUHK_SYSU_FILE_NAME = re.compile(r"^p(?P<identity_ID>\d+)_s\d+", re.I)
CUHK_SYSU_LAYOUT = "  cuhksysu/cropped_images/p11422_s16929_1.jpg ..."
CUHK_SYSU_WHERE_TO_GET = (
    "CUHK-SYSU (Xiao et al., CVPR 2017) is distributed by its authors; its person crops "
    "(cropped_images, as torchreid documents) go to --root_folder_path/cuhksysu/cropped_images."
)
Frames = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]


def unreadable_name_error(dataset_name: str, file_name: str, folder_path: str, example: str):
    return DatasetError(
        f"{dataset_name}: cannot read the identity from the file name {file_name!r} in "
        f"{folder_path!r}: expected names like {example}. Move files with other names out of "
        "the dataset's folders."
    )


def load_cuhk02(root_folder_path: str) -> Frames:
    """(train_df, query_df, gallery_df): P1 to P4, P5's cam1, P5's cam2."""
    dataset_folder_path = os.path.join(root_folder_path, "cuhk02", "Dataset")
    for path in (root_folder_path, os.path.dirname(dataset_folder_path), dataset_folder_path):
        require_path(path, "CUHK02", CUHK02_LAYOUT, CUHK02_WHERE_TO_GET)
    for pair in CUHK02_PAIRS:
        for camera in ("cam1", "cam2"):
            require_path(
                os.path.join(dataset_folder_path, pair, camera),
                "CUHK02",
                CUHK02_LAYOUT,
                CUHK02_WHERE_TO_GET,
            )
    records = {"train": [], "query": [], "gallery": []}
    for pair_number, pair in enumerate(CUHK02_PAIRS, start=1):
        for camera_number, camera in enumerate(("cam1", "cam2"), start=1):
            folder_path = os.path.join(dataset_folder_path, pair, camera)
            if pair != CUHK02_TEST_PAIR:
                split = "train"
            else:
                split = "query" if camera == "cam1" else "gallery"
            for file_name in list_image_file_names(folder_path):
                match = CUHK02_FILE_NAME.match(file_name)
                if match is None:
                    raise unreadable_name_error("CUHK02", file_name, folder_path, "0001_1.png")
                records[split].append(
                    (
                        os.path.join(folder_path, file_name),
                        pair_number * 10000 + int(match["identity_ID"]),
                        2 * (pair_number - 1) + camera_number,
                    )
                )
    for split, split_records in records.items():
        warn_if_count_differs("CUHK02", split, len(split_records), CUHK02_OFFICIAL_COUNTS[split])
        if not split_records:
            raise DatasetError(
                f"CUHK02 {split}: no .png images in {dataset_folder_path!r} for this split "
                f"(expected {CUHK02_OFFICIAL_COUNTS[split]}). Check that the dataset was fully "
                "extracted."
            )
    return tuple(make_frame(records[split]) for split in ("train", "query", "gallery"))


def load_cuhk_sysu(root_folder_path: str) -> Frames:
    """(train_df, empty query_df, empty gallery_df): CUHK-SYSU is for training only."""
    folder_path = os.path.join(root_folder_path, "cuhksysu", "cropped_images")
    for path in (root_folder_path, os.path.dirname(folder_path), folder_path):
        require_path(path, "CUHK_SYSU", CUHK_SYSU_LAYOUT, CUHK_SYSU_WHERE_TO_GET)
    file_names = list_image_file_names(folder_path)
    warn_if_count_differs("CUHK_SYSU", "train", len(file_names), CUHK_SYSU_OFFICIAL_COUNT)
    records = []
    for file_name in file_names:
        match = CUHK_SYSU_FILE_NAME.match(file_name)
        if match is None:
            raise unreadable_name_error("CUHK_SYSU", file_name, folder_path, "p11422_s16929_1.jpg")
        records.append((os.path.join(folder_path, file_name), int(match["identity_ID"]), 0))
    if not records:
        raise DatasetError(
            f"CUHK_SYSU: the folder {folder_path!r} holds no images (expected "
            f"{CUHK_SYSU_OFFICIAL_COUNT}). Check that the dataset was fully extracted."
        )
    return make_frame(records), make_frame([]), make_frame([])
