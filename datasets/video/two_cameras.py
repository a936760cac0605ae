"""iLIDS-VID and PRID2011 (multi-shot): one sequence per person and camera, two cameras, ten
random splits of the people into halves for training and testing; queries are the first
camera's sequences of the test people, the gallery the second camera's.

iLIDS-VID (Wang et al., "Person Re-identification by Video Ranking", ECCV 2014), folder
ilids-vid (as the release's iLIDS-VID.tar unpacks, inside a folder of that name):
    i-LIDS-VID/sequences/cam1/person001/cam1_person001_00317.png ..., cam2/ likewise: 300
        people seen by both cameras, 600 sequences of 23 to 192 frames.
    train-test people splits/train_test_splits_ilidsvid.mat: ls_set (10 x 300), per split the
        1-based positions of the people in the sorted list of cam1's folders, the first 150 for
        testing (Wang et al.): 300 training, 150 query and 150 gallery sequences per split.
PRID2011 (Hirzer et al., "Person Re-identification by Descriptive and Discriminative
Classification", SCIA 2011), folder prid2011:
    prid_2011/multi_shot/cam_a/person_0001/0001.png ..., cam_b/ likewise: cam_a 385 people,
        cam_b 749; person_0001 to person_0200 are seen by both, the only ones used here.
    The release has no split file; the ten splits of the 200 people (100 training, 100 test)
        are this project's, drawn once (draw_prid2011_splits.py) and shipped as
        prid2011_splits.json beside this file: 200 training, 100 query and 100 gallery
        sequences per split.
Identity: the number in the person's folder name; camera 1 or 2; the frames of a sequence in
the order of their file names.
"""

import json
import os
import re
from dataclasses import dataclass

import pandas as pd

from ..common import DatasetError, require_path
from .tracklet_frames import (
    list_frames,
    make_tracklet_frame,
    read_mat_array,
    warn_if_tracklet_count_differs,
)

SPLIT_NUM = 10
PRID2011_SPLITS_PATH = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "prid2011_splits.json"
)


@dataclass(frozen=True)
class TwoCameraDataset:
    name: str
    folder_name: str  # under --root_folder_path
    camera_folders: tuple[str, str]  # under folder_name: the query camera's, the gallery's
    person_pattern: str  # a person's folder name; group 1 is the identity
    people_num: int  # seen by both cameras, split into halves
    layout: str
    where_to_get: str


ILIDS_VID = TwoCameraDataset(
    name="iLIDS_VID",
    folder_name="ilids-vid",
    camera_folders=("i-LIDS-VID/sequences/cam1", "i-LIDS-VID/sequences/cam2"),
    person_pattern=r"^person(\d{3})$",
    people_num=300,
    layout=(
        "  ilids-vid/i-LIDS-VID/sequences/cam1/person001/*.png, cam2/person001/*.png ...\n"
        "  ilids-vid/train-test people splits/train_test_splits_ilidsvid.mat"
    ),
    where_to_get=(
        "iLIDS-VID is distributed by its authors (Wang et al., ECCV 2014) as iLIDS-VID.tar; "
        "unpack it into a folder named ilids-vid under --root_folder_path."
    ),
)
PRID2011 = TwoCameraDataset(
    name="PRID2011_video",
    folder_name="prid2011",
    camera_folders=("prid_2011/multi_shot/cam_a", "prid_2011/multi_shot/cam_b"),
    person_pattern=r"^person_(\d{4})$",
    people_num=200,
    layout="  prid2011/prid_2011/multi_shot/cam_a/person_0001/*.png, cam_b/person_0001/*.png ...",
    where_to_get=(
        "PRID2011 is distributed by its authors (Hirzer et al., SCIA 2011) as prid_2011.zip; "
        "unzip it into a folder named prid2011 under --root_folder_path."
    ),
)
ILIDS_VID_SPLITS_FILE = os.path.join("train-test people splits", "train_test_splits_ilidsvid.mat")


def load_two_camera_dataset(
    root_folder_path: str, dataset: TwoCameraDataset, split_index: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(train_df, query_df, gallery_df) of one of the ten splits, one row per frame."""
    if not 0 <= split_index < SPLIT_NUM:
        raise DatasetError(
            f"{dataset.name} has splits 0 to {SPLIT_NUM - 1}; split {split_index} was asked for."
        )
    folder_path = os.path.join(root_folder_path, dataset.folder_name)
    camera_paths = [os.path.join(folder_path, camera) for camera in dataset.camera_folders]
    required = [root_folder_path, folder_path, *camera_paths]
    for path in required:
        require_path(path, dataset.name, dataset.layout, dataset.where_to_get)
    if dataset == ILIDS_VID:
        splits_path = os.path.join(folder_path, ILIDS_VID_SPLITS_FILE)
        require_path(splits_path, dataset.name, dataset.layout, dataset.where_to_get, kind="file")
    people = people_of(dataset, camera_paths)
    train_people, test_people = split_people(dataset, people, folder_path, split_index)
    train_df = sequences(dataset, train_people, camera_paths, cameras=(1, 2))
    query_df = sequences(dataset, test_people, camera_paths, cameras=(1,))
    gallery_df = sequences(dataset, test_people, camera_paths, cameras=(2,))
    half = dataset.people_num // 2
    official = {"train": 2 * (dataset.people_num - half), "query": half, "gallery": half}
    for split_name, frame in (("train", train_df), ("query", query_df), ("gallery", gallery_df)):
        warn_if_tracklet_count_differs(
            dataset.name, split_name, frame["tracklet_ID"].nunique(), official[split_name]
        )
    return train_df, query_df, gallery_df


def people_of(dataset: TwoCameraDataset, camera_paths: list[str]) -> list[str]:
    """The sorted folder names of the people seen by both cameras (PRID2011: the first 200)."""
    pattern = re.compile(dataset.person_pattern)
    seen = []
    for camera_path in camera_paths:
        names = sorted(name for name in os.listdir(camera_path) if pattern.match(name))
        if not names:
            raise DatasetError(
                f"{dataset.name}: the folder {camera_path!r} holds no person folders named like "
                f"{pattern.pattern!r}. Expected layout under --root_folder_path:\n"
                f"{dataset.layout}\n{dataset.where_to_get}"
            )
        seen.append(names)
    if dataset == PRID2011:
        both = [name for name in seen[0] if int(pattern.match(name)[1]) <= dataset.people_num]
    else:
        both = seen[0]
    missing = sorted(set(both) - set(seen[1]))
    if missing:
        raise DatasetError(
            f"{dataset.name}: {len(missing)} people of {camera_paths[0]!r} have no folder in "
            f"{camera_paths[1]!r}, e.g. {missing[0]}; each must be seen by both cameras. "
            f"Check that the dataset was fully extracted.\n{dataset.where_to_get}"
        )
    return both


def split_people(
    dataset: TwoCameraDataset, people: list[str], folder_path: str, split_index: int
) -> tuple[list[str], list[str]]:
    """(training people, test people) of one split."""
    if dataset == ILIDS_VID:
        splits_path = os.path.join(folder_path, ILIDS_VID_SPLITS_FILE)
        positions = read_mat_array(splits_path, "ls_set", dataset.name)
        if positions.ndim != 2 or positions.shape[0] != SPLIT_NUM or positions.shape[1] % 2:
            raise DatasetError(
                f"{dataset.name}: ls_set in {splits_path!r} must be a {SPLIT_NUM} x 300 table "
                f"(one split a row); found the shape {positions.shape}."
            )
        row = positions[split_index]
        if row.min() < 1 or row.max() > len(people) or len(set(row.tolist())) != len(row):
            raise DatasetError(
                f"{dataset.name}: split {split_index} of {splits_path!r} names positions "
                f"{row.min()} to {row.max()}, but cam1 holds {len(people)} people; the split "
                "file and the sequences must come from the same release."
            )
        half = len(row) // 2  # the first half for testing, as Wang et al.
        return [people[p - 1] for p in sorted(row[half:])], [
            people[p - 1] for p in sorted(row[:half])
        ]
    with open(PRID2011_SPLITS_PATH) as splits_file:
        split = json.load(splits_file)["splits"][split_index]
    unknown = sorted(set(split["train"] + split["test"]) - set(people))
    if unknown:
        raise DatasetError(
            f"{dataset.name}: split {split_index} names people that are not in both cameras' "
            f"folders, e.g. {unknown[0]}. Check that the dataset was fully extracted.\n"
            f"{dataset.where_to_get}"
        )
    return split["train"], split["test"]


def sequences(
    dataset: TwoCameraDataset, people: list[str], camera_paths: list[str], *, cameras: tuple
) -> pd.DataFrame:
    """The frames of these people's sequences in these cameras (1, 2); tracklet_ID is
    10 x identity + camera."""
    pattern = re.compile(dataset.person_pattern)
    records = []
    for person in people:
        identity_ID = int(pattern.match(person)[1])
        for camera_ID in cameras:
            sequence_path = os.path.join(camera_paths[camera_ID - 1], person)
            frame_names = list_frames(sequence_path, ".png")
            if not frame_names:
                raise DatasetError(
                    f"{dataset.name}: the sequence folder {sequence_path!r} holds no .png frames. "
                    f"Check that the dataset was fully extracted.\n{dataset.where_to_get}"
                )
            records += [
                (
                    os.path.join(sequence_path, name),
                    identity_ID,
                    camera_ID,
                    10 * identity_ID + camera_ID,
                )
                for name in frame_names
            ]
    return make_tracklet_frame(records)
