"""MARS (Zheng et al., "MARS: A Video Benchmark for Large-Scale Person Re-identification",
ECCV 2016), folder mars:

    bbox_train/<identity>/<frame>.jpg   509,914 frames of 8,298 tracklets, 625 identities
    bbox_test/<identity>/<frame>.jpg    681,089 frames of 12,180 tracklets: 870 junk (identity
                                        -1, folder 00-1) and 3,248 distractors (identity 0)
    info/train_name.txt, test_name.txt  the frame names, one a line, tracklet by tracklet
    info/tracks_train_info.mat          track_train_info (8,298 x 4), info/tracks_test_info.mat
                                        track_test_info (12,180 x 4): rows [first, last, identity,
                                        camera], first and last 1-based lines of the name list
    info/query_IDX.mat                  query_IDX (1 x 1,980): 1-based rows of track_test_info,
                                        one tracklet per identity and camera, 626 identities
Frame name `0065C1T0002F016.jpg`: identity 0065, camera 1, tracklet 0002, frame 016.

The protocol of MARS's evaluation code (MARS-evaluation, evaluation_mars.m): the gallery is
every test tracklet, the queries included; for each query the junk tracklets and those of its
identity seen by its camera (itself among them) are left out of the ranking; distractors stay
as non-matches. Here the junk tracklets are left out of the gallery (the same for every query),
giving 11,310 gallery tracklets, and the same-camera rule is the usual one.
"""

import os
import re

import numpy as np
import pandas as pd

from ..common import DatasetError, require_path
from .tracklet_frames import make_tracklet_frame, read_mat_array, warn_if_tracklet_count_differs

NAME = "MARS"
FOLDER_NAME = "mars"
FRAME_NAME_PATTERN = re.compile(
    r"^(?P<identity>\d{4}|00-1)C(?P<camera>\d)T(?P<tracklet>\d{4})F(?P<frame>\d{3})\.jpg$"
)
JUNK_IDENTITY_ID, DISTRACTOR_IDENTITY_ID = -1, 0
OFFICIAL_TRACKLET_COUNTS = {"train": 8298, "query": 1980, "gallery": 11310}
INFO_FILES = {  # file under info/: the variable it holds
    "tracks_train_info.mat": "track_train_info",
    "tracks_test_info.mat": "track_test_info",
    "query_IDX.mat": "query_IDX",
}
LAYOUT = (
    "  mars/bbox_train/<identity>/0001C1T0001F001.jpg ...\n"
    "  mars/bbox_test/<identity>/0000C1T0001F001.jpg ... (00-1/ for junk)\n"
    "  mars/info/train_name.txt, test_name.txt, tracks_train_info.mat, tracks_test_info.mat, "
    "query_IDX.mat"
)
WHERE_TO_GET = (
    "MARS is distributed by its authors (Zheng et al., ECCV 2016): unzip bbox_train.zip and "
    "bbox_test.zip into mars/, and put the info/ folder of their MARS-evaluation code "
    "(github.com/liangzheng06/MARS-evaluation) beside them."
)


def load_mars(root_folder_path: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(train_df, query_df, gallery_df): one row per frame, with its tracklet_ID (the 1-based
    row of the tracks_*_info table); a query tracklet is in the gallery too (see above)."""
    folder_path = os.path.join(root_folder_path, FOLDER_NAME)
    info_folder_path = os.path.join(folder_path, "info")
    for path, kind in (
        (root_folder_path, "folder"),
        (folder_path, "folder"),
        (os.path.join(folder_path, "bbox_train"), "folder"),
        (os.path.join(folder_path, "bbox_test"), "folder"),
        (info_folder_path, "folder"),
        *((os.path.join(info_folder_path, name), "file") for name in INFO_FILES),
        (os.path.join(info_folder_path, "train_name.txt"), "file"),
        (os.path.join(info_folder_path, "test_name.txt"), "file"),
    ):
        require_path(path, NAME, LAYOUT, WHERE_TO_GET, kind=kind)
    tables = {
        file_name: read_mat_array(os.path.join(info_folder_path, file_name), variable, NAME)
        for file_name, variable in INFO_FILES.items()
    }
    train_tracks = check_track_table(tables["tracks_train_info.mat"], "tracks_train_info.mat")
    test_tracks = check_track_table(tables["tracks_test_info.mat"], "tracks_test_info.mat")
    query_rows = tables["query_IDX.mat"].reshape(-1) - 1  # 1-based in the file
    if len(query_rows) == 0 or query_rows.min() < 0 or query_rows.max() >= len(test_tracks):
        raise DatasetError(
            f"{NAME}: query_IDX.mat must hold 1-based rows of tracks_test_info.mat (1 to "
            f"{len(test_tracks)}); found {len(query_rows)} values from "
            f"{query_rows.min(initial=0) + 1} to {query_rows.max(initial=-1) + 1}. Replace the "
            "info/ files with those of one release."
        )
    train_names = read_names(os.path.join(info_folder_path, "train_name.txt"))
    test_names = read_names(os.path.join(info_folder_path, "test_name.txt"))
    train = dict(names=train_names, folder_path=folder_path, split_folder="bbox_train")
    test = dict(names=test_names, folder_path=folder_path, split_folder="bbox_test")
    train_df = tracklet_frames(train_tracks, np.arange(len(train_tracks)), **train)
    # A distractor or junk query (none in the release) would have no true match to find.
    query_rows = query_rows[test_tracks[query_rows, 2] > DISTRACTOR_IDENTITY_ID]
    query_df = tracklet_frames(test_tracks, query_rows, **test)
    gallery_rows = np.flatnonzero(test_tracks[:, 2] != JUNK_IDENTITY_ID)
    gallery_df = tracklet_frames(test_tracks, gallery_rows, **test)
    for split_name, frame in (("train", train_df), ("query", query_df), ("gallery", gallery_df)):
        require_first_frame(frame, split_name)
        warn_if_tracklet_count_differs(
            NAME, split_name, frame["tracklet_ID"].nunique(), OFFICIAL_TRACKLET_COUNTS[split_name]
        )
    return train_df, query_df, gallery_df


def require_first_frame(frame: pd.DataFrame, split_name: str) -> None:
    """A name list without its images (a zip not unpacked) is named here; a few missing frames
    are left out later with a warning, as unreadable images are."""
    if len(frame) == 0:
        raise DatasetError(f"{NAME} {split_name}: the info/ files name no tracklets.")
    first_path = frame["image_file_path"].iloc[0]
    if not os.path.isfile(first_path):
        raise DatasetError(
            f"{NAME} {split_name}: the frame {first_path!r}, named in the info/ name list, does "
            f"not exist. Expected layout under --root_folder_path:\n{LAYOUT}\n{WHERE_TO_GET}"
        )


def check_track_table(table: np.ndarray, file_name: str) -> np.ndarray:
    if table.ndim != 2 or table.shape[1] != 4 or len(table) == 0:
        raise DatasetError(
            f"{NAME}: info/{file_name} must hold a table of 4 columns (first frame, last frame, "
            f"identity, camera), one row per tracklet; found the shape {table.shape}. Replace it "
            "with the file of the MARS release."
        )
    return table


def read_names(file_path: str) -> list[str]:
    with open(file_path) as names_file:
        return [line.strip() for line in names_file if line.strip()]


def tracklet_frames(
    tracks: np.ndarray, rows: np.ndarray, *, names: list[str], folder_path: str, split_folder: str
) -> pd.DataFrame:
    """The frames of the tracklets at `rows` (junk rows of a training table are left out),
    each frame's name checked against its row's identity and camera."""
    records = []
    for row in rows:
        first, last, identity_ID, camera_ID = (int(value) for value in tracks[row])
        if split_folder == "bbox_train" and identity_ID == JUNK_IDENTITY_ID:
            continue
        if not 1 <= first <= last <= len(names):
            raise DatasetError(
                f"{NAME}: row {row + 1} of the {split_folder} tracklets names the frames "
                f"{first} to {last}, but the name list has {len(names)} lines. The info/ files "
                "and the name lists must come from the same release."
            )
        identity_text = "00-1" if identity_ID == JUNK_IDENTITY_ID else f"{identity_ID:04d}"
        for name in names[first - 1 : last]:
            match = FRAME_NAME_PATTERN.match(name)
            if match is None or (match["identity"], int(match["camera"])) != (
                identity_text,
                camera_ID,
            ):
                raise DatasetError(
                    f"{NAME}: the frame name {name!r} (lines {first} to {last} of the "
                    f"{split_folder} name list) does not fit its tracklet, identity "
                    f"{identity_text} and camera {camera_ID}: expected names like "
                    f"{identity_text}C{camera_ID}T0001F001.jpg. The info/ files and the name "
                    "lists must come from the same release."
                )
            path = os.path.join(folder_path, split_folder, identity_text, name)
            records.append((path, identity_ID, camera_ID, row + 1))
    return make_tracklet_frame(records)
