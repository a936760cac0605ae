"""A video dataset's train, query and gallery frames by its name."""

import pandas as pd

from .dukemtmc_video import load_dukemtmc_video
from .mars import load_mars
from .two_cameras import ILIDS_VID, PRID2011, load_two_camera_dataset

VIDEO_DATASET_NAMES = ("MARS", "iLIDS_VID", "PRID2011_video", "DukeMTMC_VideoReID")


def load_video_dataset(
    root_folder_path: str, dataset_name: str, *, split_index: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(train_df, query_df, gallery_df): one row per frame, with the columns image_file_path,
    identity_ID, camera_ID and tracklet_ID, a tracklet's frames consecutive and in temporal
    order. split_index: which of the ten splits of iLIDS_VID and PRID2011_video (0 to 9)."""
    if dataset_name == "MARS":
        return load_mars(root_folder_path)
    if dataset_name == "iLIDS_VID":
        return load_two_camera_dataset(root_folder_path, ILIDS_VID, split_index)
    if dataset_name == "PRID2011_video":
        return load_two_camera_dataset(root_folder_path, PRID2011, split_index)
    if dataset_name == "DukeMTMC_VideoReID":
        return load_dukemtmc_video(root_folder_path)
    raise ValueError(f"{dataset_name!r} is not one of {VIDEO_DATASET_NAMES}.")
