"""MSMT17 (Wei et al., CVPR 2018), in both versions in circulation: MSMT17 reads version 2,
folder MSMT17_V2 (the 2021 release's), MSMT17_V1 version 1, folder MSMT17_V1.

    Training images: version 2 mask_train_v2/, version 1 train/; with list_train.txt (30,248
        images) + list_val.txt (2,373): 32,621 training images of 1,041 identities (validation
        is part of training, as in the literature).
    Test images: mask_test_v2/ or test/, with list_query.txt (11,659 images) and
        list_gallery.txt (82,161), 3,060 identities, 15 cameras.
    List line `0000/0000_000_01_0303morning_0015_0.jpg 0`: a path relative to the image folder
    and the identity; the camera is the third `_` field of the file name (01 here).
Training and test identity numbers both start at 0 but are different people. Version 2 masks
the faces; the lists and counts are the same, but the numbers of the two are not comparable,
so a copy of one version where the other is expected is named in the error, not read.
"""

import os
import warnings
from dataclasses import dataclass

import pandas as pd

from .common import (
    DatasetCountWarning,
    DatasetError,
    make_frame,
    require_path,
    warn_if_count_differs,
)

OFFICIAL_COUNTS = {"train": 32621, "query": 11659, "gallery": 82161}
LIST_FILE_NAMES = {  # split name: list files
    "train": ("list_train.txt", "list_val.txt"),
    "query": ("list_query.txt",),
    "gallery": ("list_gallery.txt",),
}


@dataclass(frozen=True)
class MSMT17Version:
    name: str  # the dataset name
    folder_name: str
    train_folder_name: str
    test_folder_name: str

    @property
    def image_folder_names(self) -> dict[str, str]:
        return {
            "train": self.train_folder_name,
            "query": self.test_folder_name,
            "gallery": self.test_folder_name,
        }

    @property
    def layout(self) -> str:
        return (
            f"  {self.folder_name}/{self.train_folder_name}/<identity>/*.jpg\n"
            f"  {self.folder_name}/{self.test_folder_name}/<identity>/*.jpg\n"
            f"  {self.folder_name}/list_train.txt, list_val.txt, list_query.txt, list_gallery.txt"
        )

    @property
    def where_to_get(self) -> str:
        return (
            "MSMT17 is released by its authors on request (Wei et al., CVPR 2018, 'Person "
            f"Transfer GAN'); unpack {self.folder_name} under --root_folder_path."
        )


MSMT17_V2 = MSMT17Version("MSMT17", "MSMT17_V2", "mask_train_v2", "mask_test_v2")
MSMT17_V1 = MSMT17Version("MSMT17_V1", "MSMT17_V1", "train", "test")
MSMT17_VERSIONS = {version.name: version for version in (MSMT17_V2, MSMT17_V1)}


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


def load_split(dataset_folder_path: str, version: MSMT17Version, split_name: str) -> pd.DataFrame:
    image_folder_path = os.path.join(dataset_folder_path, version.image_folder_names[split_name])
    require_path(image_folder_path, version.name, version.layout, version.where_to_get)
    list_file_names = LIST_FILE_NAMES[split_name]
    records, missing_paths = [], []
    for list_file_name in list_file_names:
        list_file_path = os.path.join(dataset_folder_path, list_file_name)
        require_path(
            list_file_path, version.name, version.layout, version.where_to_get, kind="file"
        )
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
            f"{version.name} {split_name}: {len(missing_paths)} images named in the lists are "
            f"missing and are left out, e.g. {missing_paths[0]!r}.",
            DatasetCountWarning,
            stacklevel=2,
        )
    warn_if_count_differs(version.name, split_name, len(records), OFFICIAL_COUNTS[split_name])
    if not records:
        raise DatasetError(
            f"{version.name} {split_name}: none of the images named in "
            f"{', '.join(list_file_names)} exist under {image_folder_path!r}. Check that the "
            "dataset was fully extracted."
        )
    return make_frame(records)


def load_msmt17(
    root_folder_path: str, version: MSMT17Version = MSMT17_V2
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(train_df, query_df, gallery_df) of one version of MSMT17 under root_folder_path."""
    dataset_folder_path = os.path.join(root_folder_path, version.folder_name)
    require_path(root_folder_path, version.name, version.layout, version.where_to_get)
    check_not_the_other_version(root_folder_path, version)
    require_path(dataset_folder_path, version.name, version.layout, version.where_to_get)
    return tuple(load_split(dataset_folder_path, version, split) for split in LIST_FILE_NAMES)


def check_not_the_other_version(root_folder_path: str, version: MSMT17Version) -> None:
    """A DatasetError naming the other version when its copy is where this one is expected:
    its folder instead of this one's, or its image folders inside this one's folder."""
    for other in MSMT17_VERSIONS.values():
        if other == version:
            continue
        own_folder = os.path.join(root_folder_path, version.folder_name)
        other_folder = os.path.join(root_folder_path, other.folder_name)
        inside = (
            os.path.isdir(own_folder)
            and os.path.isdir(os.path.join(own_folder, other.train_folder_name))
            and not os.path.isdir(os.path.join(own_folder, version.train_folder_name))
        )
        if inside or (os.path.isdir(other_folder) and not os.path.isdir(own_folder)):
            found = own_folder if inside else other_folder
            raise DatasetError(
                f"{version.name} reads {version.folder_name} ({version.train_folder_name}/, "
                f"{version.test_folder_name}/), but {found!r} holds a copy of "
                f"{other.folder_name} ({other.train_folder_name}/, {other.test_folder_name}/). "
                f"The two versions give different numbers: train and test with "
                f"--dataset_name {other.name} to read that copy, or put {version.folder_name} "
                "under --root_folder_path."
            )
