"""Video person ReID datasets: MARS, iLIDS-VID, PRID2011 (multi-shot), DukeMTMC-VideoReID.

Each loader returns frames, one row per frame, with the columns image_file_path, identity_ID,
camera_ID and tracklet_ID: training reads them as images of their tracklet's identity and
camera; evaluation pools them into one feature per tracklet (evaluation/tracklets.py). Imports
no TensorFlow. loading.py: a dataset by name. mars.py, two_cameras.py (iLIDS-VID, PRID2011),
dukemtmc_video.py: the layouts. standins.py: small generated copies of each layout.
"""

from .loading import VIDEO_DATASET_NAMES, load_video_dataset

__all__ = ["VIDEO_DATASET_NAMES", "load_video_dataset"]
