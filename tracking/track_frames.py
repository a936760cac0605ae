"""The tracking loop: each frame and its detections to the tracker, its tracks to MOT rows and,
if asked, to an annotated frame."""

import numpy as np

from crash_points import crash_point
from progress_lines import ExtractionProgress

PERSON_CLASS = 0  # the class column BoxMOT's trackers take (COCO's person)


def track_frames(
    frames, detections: dict, tracker, *, frame_num: int, annotated=None, rows=None
) -> list:
    """(frame, track, left, top, width, height, score) rows of every frame of frames, an iterable
    of (index from 1, BGR image); detections: frame -> (n, 5) x1 y1 x2 y2 score. rows: a list
    the rows are added to frame by frame (what an error stops keeps the frames before it)."""
    rows = [] if rows is None else rows
    progress = ExtractionProgress(frame_num, task="tracking", noun="frames")
    for index, frame in frames:
        crash_point("track frame begins")
        boxes = detections.get(index)
        if boxes is None:
            boxes = np.zeros((0, 5), np.float32)
        with_class = np.concatenate([boxes, np.full((len(boxes), 1), PERSON_CLASS, np.float32)], 1)
        tracks = np.asarray(tracker.update(with_class, frame)).reshape(-1, 8)
        frame_rows = [  # BoxMOT's columns: x1 y1 x2 y2 track score class detection
            (index, int(track), x1, y1, x2 - x1, y2 - y1, score)
            for x1, y1, x2, y2, track, score in tracks[:, :6].tolist()
        ]
        rows.extend(frame_rows)
        if annotated is not None:
            annotated.write(index, frame, [row[1:6] for row in frame_rows])
        progress.update(index)
    return rows
