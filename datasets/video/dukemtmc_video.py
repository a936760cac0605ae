"""DukeMTMC-VideoReID (Wu et al., "Exploit the Unknown Gradually: One-Shot Video-Based Person
Re-Identification by Stepwise Learning", CVPR 2018; frames of DukeMTMC, Ristani et al., ECCVW
2016), folder dukemtmc-vidreid/DukeMTMC-VideoReID:

    train/<identity>/<tracklet>/0001_C6_F0099_X30823.jpg ...  2,196 tracklets of 702 identities
    query/<identity>/<tracklet>/...                            702 tracklets of 702 identities
    gallery/<identity>/<tracklet>/...                          2,636 tracklets of 1,110
                                                               identities (408 distractors)
Frame name `0001_C6_F0099_X30823.jpg` (older copies: `0001C6F0099X30823.jpg`): identity 0001,
camera 6, frame 0099. Query and gallery tracklets are disjoint; the Market-1501 protocol (the
query's identity seen by its camera left out) applies. DukeMTMC was withdrawn by its authors;
copies held by users keep working here.
"""

import os
import re

import pandas as pd

from ..common import DatasetError, require_path
from .tracklet_frames import list_frames, make_tracklet_frame, warn_if_tracklet_count_differs

NAME = "DukeMTMC_VideoReID"
FOLDER_NAME = os.path.join("dukemtmc-vidreid", "DukeMTMC-VideoReID")
SPLIT_FOLDER_NAMES = ("train", "query", "gallery")
FRAME_NAME_PATTERN = re.compile(r"^(?P<identity>\d{4})_?C(?P<camera>\d)_?F(?P<frame>\d{4})")
OFFICIAL_TRACKLET_COUNTS = {"train": 2196, "query": 702, "gallery": 2636}
LAYOUT = (
    "  dukemtmc-vidreid/DukeMTMC-VideoReID/{train,query,gallery}/<identity>/<tracklet>/"
    "0001_C6_F0099_X30823.jpg ..."
)
WHERE_TO_GET = (
    "DukeMTMC-VideoReID (Wu et al., CVPR 2018) was withdrawn with DukeMTMC and has no official "
    "download any more; if you hold DukeMTMC-VideoReID.zip, unzip it into a folder named "
    "dukemtmc-vidreid under --root_folder_path."
)


def load_dukemtmc_video(root_folder_path: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(train_df, query_df, gallery_df), one row per frame; tracklet_ID is
    10,000 x identity + the tracklet folder's number."""
    folder_path = os.path.join(root_folder_path, FOLDER_NAME)
    split_paths = [os.path.join(folder_path, split) for split in SPLIT_FOLDER_NAMES]
    for path in (root_folder_path, folder_path, *split_paths):
        require_path(path, NAME, LAYOUT, WHERE_TO_GET)
    frames = []
    for split_name, split_path in zip(SPLIT_FOLDER_NAMES, split_paths, strict=True):
        frame = load_split(split_path)
        warn_if_tracklet_count_differs(
            NAME, split_name, frame["tracklet_ID"].nunique(), OFFICIAL_TRACKLET_COUNTS[split_name]
        )
        frames.append(frame)
    return tuple(frames)


def load_split(split_path: str) -> pd.DataFrame:
    records = []
    for identity_name in sorted(os.listdir(split_path)):
        identity_path = os.path.join(split_path, identity_name)
        if not os.path.isdir(identity_path):
            continue  # .DS_Store and the like
        if not identity_name.isdigit():
            raise DatasetError(
                f"{NAME}: expected identity folders named by number (0001) in {split_path!r}, "
                f"found {identity_name!r}. Expected layout under --root_folder_path:\n{LAYOUT}"
            )
        for tracklet_name in sorted(os.listdir(identity_path)):
            tracklet_path = os.path.join(identity_path, tracklet_name)
            if not os.path.isdir(tracklet_path):
                continue
            frame_names = list_frames(tracklet_path, ".jpg")
            if not frame_names:
                continue  # an empty tracklet folder has nothing to evaluate
            match = FRAME_NAME_PATTERN.match(frame_names[0])
            if match is None or int(match["identity"]) != int(identity_name):
                raise DatasetError(
                    f"{NAME}: cannot read identity {identity_name} and a camera from the frame "
                    f"name {frame_names[0]!r} in {tracklet_path!r}: expected names like "
                    f"{identity_name}_C6_F0099_X30823.jpg. Expected layout under "
                    f"--root_folder_path:\n{LAYOUT}"
                )
            identity_ID, camera_ID = int(identity_name), int(match["camera"])
            tracklet_ID = (
                10000 * identity_ID + int(tracklet_name) if tracklet_name.isdigit() else None
            )
            if tracklet_ID is None:
                raise DatasetError(
                    f"{NAME}: expected tracklet folders named by number (0001) in "
                    f"{identity_path!r}, found {tracklet_name!r}."
                )
            records += [
                (os.path.join(tracklet_path, name), identity_ID, camera_ID, tracklet_ID)
                for name in frame_names
            ]
    if not records:
        raise DatasetError(
            f"{NAME}: the folder {split_path!r} holds no tracklets. Expected layout under "
            f"--root_folder_path:\n{LAYOUT}\n{WHERE_TO_GET}"
        )
    return make_tracklet_frame(records)
