"""MSMT17 (Wei et al., CVPR 2018), version 2, folder MSMT17_V2.

    mask_train_v2/ with list_train.txt (30,248 images) + list_val.txt (2,373): 32,621 training
        images of 1,041 identities (validation is part of training, as in the literature).
    mask_test_v2/ with list_query.txt (11,659 images) and list_gallery.txt (82,161), 3,060
        identities, 15 cameras.
    List line `0000/0000_000_01_0303morning_0015_0.jpg 0`: a path relative to the image folder
    and the identity; the camera is the third `_` field of the file name (01 here).
Training and test identity numbers both start at 0 but are different people.
"""

import os
import warnings

import pandas as pd

from .common import (
    DatasetCountWarning,
    DatasetError,
    make_frame,
    require_path,
    warn_if_count_differs,
)

DATASET_NAME = "MSMT17"
FOLDER_NAME = "MSMT17_V2"
OFFICIAL_COUNTS = {"train": 32621, "query": 11659, "gallery": 82161}
SPLITS = {  # split name: (image folder, list files)
    "train": ("mask_train_v2", ("list_train.txt", "list_val.txt")),
    "query": ("mask_test_v2", ("list_query.txt",)),
    "gallery": ("mask_test_v2", ("list_gallery.txt",)),
}
WHERE_TO_GET = (
    "MSMT17 is released by its authors on request (Wei et al., CVPR 2018, "
    "'Person Transfer GAN'); unpack MSMT17_V2 under --root_folder_path."
)
LAYOUT = (
    f"  {FOLDER_NAME}/mask_train_v2/<identity>/*.jpg\n"
    f"  {FOLDER_NAME}/mask_test_v2/<identity>/*.jpg\n"
    f"  {FOLDER_NAME}/list_train.txt, list_val.txt, list_query.txt, list_gallery.txt"
)


def parse_list_line(line: str, list_file_path: str, line_number: int) -> tuple[str, int, int]:
    """(relative image path, identity_ID, camera_ID) from one list line."""
    fields = line.split()
    try:
        relative_path, identity_text = fields
        camera_text = os.path.basename(relative_path).split("_")[2]
        return relative_path, int(identity_text), int(camera_text)
    except (ValueError, IndexError):
        raise DatasetError(
            f"{list_file_path}, line {line_number}: cannot parse {line.strip()!r}; expected "
            "'0000/0000_000_01_0303morning_0015_0.jpg 0' (path, identity; the camera is the "
            "third '_' field of the file name)."
        ) from None


def load_split(dataset_folder_path: str, split_name: str) -> pd.DataFrame:
    image_folder_name, list_file_names = SPLITS[split_name]
    image_folder_path = os.path.join(dataset_folder_path, image_folder_name)
    require_path(image_folder_path, DATASET_NAME, LAYOUT, WHERE_TO_GET)
    records, missing_paths = [], []
    for list_file_name in list_file_names:
        list_file_path = os.path.join(dataset_folder_path, list_file_name)
        require_path(list_file_path, DATASET_NAME, LAYOUT, WHERE_TO_GET, kind="file")
        with open(list_file_path) as list_file:
            for line_number, line in enumerate(list_file, start=1):
                if not line.strip():
                    continue
                relative_path, identity_ID, camera_ID = parse_list_line(
                    line, list_file_path, line_number
                )
                image_file_path = os.path.join(image_folder_path, relative_path)
                if os.path.isfile(image_file_path):
                    records.append((image_file_path, identity_ID, camera_ID))
                else:
                    missing_paths.append(image_file_path)
    if missing_paths:
        warnings.warn(
            f"MSMT17 {split_name}: {len(missing_paths)} images named in the lists are missing "
            f"and are left out, e.g. {missing_paths[0]!r}.",
            DatasetCountWarning,
            stacklevel=2,
        )
    warn_if_count_differs(DATASET_NAME, split_name, len(records), OFFICIAL_COUNTS[split_name])
    if not records:
        raise DatasetError(
            f"MSMT17 {split_name}: none of the images named in {', '.join(list_file_names)} "
            f"exist under {image_folder_path!r}. Check that the dataset was fully extracted."
        )
    return make_frame(records)


def load_msmt17(root_folder_path: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(train_df, query_df, gallery_df) of MSMT17_V2 under root_folder_path."""
    dataset_folder_path = os.path.join(root_folder_path, FOLDER_NAME)
    require_path(root_folder_path, DATASET_NAME, LAYOUT, WHERE_TO_GET)
    require_path(dataset_folder_path, DATASET_NAME, LAYOUT, WHERE_TO_GET)
    return tuple(load_split(dataset_folder_path, split_name) for split_name in SPLITS)
