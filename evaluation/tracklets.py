"""Video ReID: one feature per tracklet, the mean of its frames' features (MARS, Zheng et al.,
ECCV 2016, pools frame features by averaging). Imports no TensorFlow.

    sampled = sample_tracklets(query_df, sequence_length=15)   # frames with a tracklet_ID column
    frame_features = extract(sampled.frame_paths)               # flip-averaged per frame if asked
    query_features = pool_tracklet_features(frame_features, sampled.frame_tracklet_rows)
    sampled.tracklets  # one row per tracklet: identity_ID, camera_ID, ... for evaluate_features

TrackletPooler does the same a batch of frames at a time (callbacks/evaluator.py), so that the
features of all of a test set's frames are never held at once.

A tracklet of more than sequence_length frames is represented by sequence_length frames spread
evenly over it, the first and the last included; a shorter one by all its frames (none is
repeated, so every frame weighs the same in the mean); sequence_length 0 takes every frame.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

TRACKLET_COLUMN = "tracklet_ID"


def has_tracklets(frame_df: pd.DataFrame) -> bool:
    """True for the frames of a video dataset (they name their tracklet)."""
    return TRACKLET_COLUMN in frame_df.columns


def evenly_spaced_positions(frame_num: int, sequence_length: int) -> np.ndarray:
    """Positions 0..frame_num-1 of the frames that represent a tracklet, ascending."""
    if sequence_length == 0 or frame_num <= sequence_length:
        return np.arange(frame_num)
    # Spacing (frame_num - 1) / (sequence_length - 1) >= 1, so the rounded positions are distinct.
    return np.round(np.linspace(0, frame_num - 1, sequence_length)).astype(np.int64)


@dataclass(frozen=True)
class SampledTracklets:
    # One row per tracklet, in order of first appearance: identity_ID, camera_ID, tracklet_ID,
    # image_file_path (its first frame: what ranked-list pictures show), frame_num (all frames).
    tracklets: pd.DataFrame
    frame_paths: list[str]  # the sampled frames, tracklet by tracklet
    frame_tracklet_rows: np.ndarray  # (len(frame_paths),) the row in `tracklets` of each


def sample_tracklets(frame_df: pd.DataFrame, sequence_length: int) -> SampledTracklets:
    """The frames that represent each tracklet of frame_df (columns image_file_path, identity_ID,
    camera_ID, tracklet_ID; a tracklet's frames in temporal order), and one row per tracklet.

    Raises ValueError when one tracklet's frames name two identities or two cameras."""
    if sequence_length < 0:
        raise ValueError(f"sequence_length must be 0 (all frames) or more; got {sequence_length}.")
    groups = frame_df.groupby(TRACKLET_COLUMN, sort=False)
    mixed = groups[["identity_ID", "camera_ID"]].nunique().max(axis=1) > 1
    if mixed.any():
        raise ValueError(
            f"The tracklet {mixed.index[mixed][0]!r} holds frames of several identities or "
            "cameras; a tracklet is one person seen by one camera."
        )
    rows, frame_paths, frame_tracklet_rows = [], [], []
    for row, (tracklet_ID, frames) in enumerate(groups):
        paths = frames["image_file_path"].tolist()
        chosen = evenly_spaced_positions(len(paths), sequence_length)
        frame_paths += [paths[position] for position in chosen]
        frame_tracklet_rows += [row] * len(chosen)
        rows.append(
            {
                "image_file_path": paths[0],
                "identity_ID": frames["identity_ID"].iloc[0],
                "camera_ID": frames["camera_ID"].iloc[0],
                TRACKLET_COLUMN: tracklet_ID,
                "frame_num": len(paths),
            }
        )
    tracklets = pd.DataFrame(
        rows, columns=["image_file_path", "identity_ID", "camera_ID", TRACKLET_COLUMN, "frame_num"]
    )
    return SampledTracklets(
        tracklets=tracklets.astype({"identity_ID": "int64", "camera_ID": "int64"}),
        frame_paths=frame_paths,
        frame_tracklet_rows=np.asarray(frame_tracklet_rows, dtype=np.int64),
    )


class TrackletPooler:
    """The mean feature of each tracklet, from its frames' features given a batch at a time (so
    that a video test set's frame features are never all held: MARS has 681,089 test frames)."""

    def __init__(self, frame_tracklet_rows: np.ndarray, tracklet_num: int | None = None):
        """frame_tracklet_rows: (frame_num,) the tracklet (0..tracklet_num-1) of each frame, in
        the order the frames' features will come; every tracklet needs a frame. tracklet_num:
        default 1 + the largest row."""
        self.frame_tracklet_rows = np.asarray(frame_tracklet_rows, dtype=np.int64)
        if tracklet_num is None:
            rows = self.frame_tracklet_rows
            tracklet_num = int(rows.max()) + 1 if len(rows) else 0
        self.counts = np.bincount(self.frame_tracklet_rows, minlength=tracklet_num)
        if len(self.counts) > tracklet_num or (self.counts == 0).any():
            raise ValueError("Every tracklet needs at least one frame, and no frame another row.")
        self.sums: np.ndarray | None = None  # (tracklet_num, dimension) float64
        self.done = 0  # frames added

    def add(self, frame_features: np.ndarray) -> None:
        """The features (n, dimension) of the next n frames."""
        frame_features = np.asarray(frame_features, dtype=np.float64)
        rows = self.frame_tracklet_rows[self.done : self.done + len(frame_features)]
        if len(rows) != len(frame_features):
            raise ValueError(
                f"{self.done + len(frame_features)} frame features given for "
                f"{len(self.frame_tracklet_rows)} frames."
            )
        if self.sums is None:
            self.sums = np.zeros((len(self.counts), frame_features.shape[1]), dtype=np.float64)
        np.add.at(self.sums, rows, frame_features)
        self.done += len(frame_features)

    def result(self) -> np.ndarray:
        """(tracklet_num, dimension) float32 means, once every frame was added."""
        if self.done != len(self.frame_tracklet_rows) or self.sums is None:
            raise ValueError(
                f"{self.done} of {len(self.frame_tracklet_rows)} frame features were added."
            )
        return (self.sums / self.counts[:, None]).astype(np.float32)


def pool_tracklet_features(
    frame_features: np.ndarray, frame_tracklet_rows: np.ndarray, tracklet_num: int | None = None
) -> np.ndarray:
    """(tracklet_num, dimension) float32: the mean of each tracklet's frame features.

    Args:
        frame_features: (frame_num, dimension) features of the sampled frames.
        frame_tracklet_rows: (frame_num,) the tracklet of each frame, 0..tracklet_num-1.
        tracklet_num: default: 1 + the largest row; every tracklet needs a frame.
    """
    if len(frame_features) != len(frame_tracklet_rows):
        raise ValueError(
            f"{len(frame_features)} frame features but {len(frame_tracklet_rows)} tracklet rows."
        )
    pooler = TrackletPooler(frame_tracklet_rows, tracklet_num)
    pooler.add(frame_features)
    return pooler.result()
