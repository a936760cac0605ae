"""Tracking people in video with a FlipReID model (track.py): frames and MOT files in and out,
BoxMOT's trackers, a generated sequence with exact ground truth, and TrackEval's metrics."""
