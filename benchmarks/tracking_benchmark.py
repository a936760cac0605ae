"""Tracking with and without a FlipReID model on generated sequences with exact ground truth
(tracking/scene.py), scored by TrackEval; in the tracking environment (requirements-tracking.txt):

    python benchmarks/tracking_benchmark.py --trained_model_path ./exported/tracker_model.onnx \
        --untrained_model_path ./exported/untrained_tracker_model.onnx

Each of BoxMOT's trackers below runs by motion only, with the untrained model's embeddings and
with the trained model's (and with their centred exports, export.py --center_on_images_path,
when given), on the same sequences and detections (the ground truth with noise, the
people less than 45% visible missed, 5% of the others missed at random, a few false boxes).
Frames are read from JPEG files as track.py reads them. HOTA, IDF1 and MOTA in percent, ID
switches and the number of tracks over all sequences together; the ground truth's identity
count is printed above the table. Writes benchmarks/results/tracking.md.
"""

import argparse
import os
import tempfile
import time

from common import RESULTS_FOLDER, MarkdownTable

from tracking.evaluation import score_tracks
from tracking.frames import FrameSource
from tracking.mot_files import read_detections, write_tracks
from tracking.scene import SceneSettings, generate_sequence, write_sequence
from tracking.track_frames import track_frames
from tracking.trackers import can_use_appearance, make_tracker

# Trackers and whether they also run by motion only; each with appearance runs with each model.
TRACKERS = (
    ("bytetrack", True),
    ("botsort", True),
    ("deepocsort", True),
    ("strongsort", False),
    ("deepsort", False),  # deep-sort-realtime, not BoxMOT
)
MODELS = ("untrained", "trained", "untrained_centered", "trained_centered")


def cases(models: dict) -> list[tuple[str, str]]:
    """(tracker, appearance): "none" for motion only, else a key of models."""
    chosen = []
    for tracker_name, by_motion in TRACKERS:
        chosen += [(tracker_name, "none")] if by_motion else []
        if can_use_appearance(tracker_name):
            chosen += [(tracker_name, model) for model in models]
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for model in MODELS:
        parser.add_argument(
            f"--{model}_model_path",
            required=not model.endswith("centered"),
            help="Exported with export.py --center_on_images_path" if "centered" in model else None,
        )
    parser.add_argument("--seeds", default="0,1,2", help="One generated sequence per seed.")
    parser.add_argument("--frame_num", type=int, default=300)
    parser.add_argument(
        "--sequence_folder", help="Keep the sequences here (MOT layout; default: a temporary one)."
    )
    parser.add_argument("--output_path", default=os.path.join(RESULTS_FOLDER, "tracking.md"))
    arguments = parser.parse_args()
    models = {
        model: path for model in MODELS if (path := getattr(arguments, f"{model}_model_path"))
    }
    seeds = [int(seed) for seed in arguments.seeds.split(",")]
    with tempfile.TemporaryDirectory() as temporary_folder:
        folder = arguments.sequence_folder or temporary_folder
        sequences = {}
        for seed in seeds:
            sequence_path = os.path.join(folder, f"generated-{seed:02d}")
            if not os.path.isdir(sequence_path):
                settings = SceneSettings(frame_num=arguments.frame_num, seed=seed)
                write_sequence(sequence_path, generate_sequence(settings))
            sequences[f"generated-{seed:02d}"] = sequence_path
        identity_num = sum(count_identities(path) for path in sequences.values())
        print(f"{len(sequences)} sequences of {arguments.frame_num} frames, {identity_num} people")
        detections = {
            sequence: read_detections(os.path.join(path, "det", "det.txt"))
            for sequence, path in sequences.items()
        }
        tracks_paths, speeds = {}, {}
        for tracker_name, appearance in cases(models):
            name = f"{tracker_name}-{appearance}"
            tracks_paths[name], seconds, frames = {}, 0.0, 0
            for sequence, sequence_path in sequences.items():
                source = FrameSource(os.path.join(sequence_path, "img1"))
                tracker = make_tracker(
                    tracker_name,
                    model_file_path=models.get(appearance),
                    use_appearance=appearance != "none",
                    frame_rate=25,
                )
                start = time.perf_counter()
                rows = track_frames(
                    source, detections[sequence], tracker, frame_num=source.frame_num
                )
                seconds += time.perf_counter() - start
                frames += source.frame_num
                tracks_paths[name][sequence] = os.path.join(folder, f"{name}-{sequence}.txt")
                write_tracks(tracks_paths[name][sequence], rows)
            speeds[name] = frames / seconds
            print(f"{name}: {speeds[name]:.1f} frames/s", flush=True)
        scores = score_tracks(
            {
                sequence: (os.path.join(path, "gt", "gt.txt"), arguments.frame_num)
                for sequence, path in sequences.items()
            },
            tracks_paths,
        )
    table = MarkdownTable(
        ["tracker", "appearance", "HOTA", "IDF1", "MOTA", "ID switches", "tracks", "frames/s"]
    )
    for tracker_name, appearance in cases(models):
        name = f"{tracker_name}-{appearance}"
        score = scores[name]
        table.add_row(
            [
                tracker_name,
                "none (motion only)"
                if appearance == "none"
                else appearance.replace("_centered", ", centred") + " FlipReID",
                f"{score['HOTA']:.1f}",
                f"{score['IDF1']:.1f}",
                f"{score['MOTA']:.1f}",
                score["IDSW"],
                score["IDs"],
                f"{speeds[name]:.0f}",
            ]
        )
    table.lines.insert(1, f"{len(sequences)} generated sequences, {identity_num} people.")
    table.save(arguments.output_path)


def count_identities(sequence_path: str) -> int:
    with open(os.path.join(sequence_path, "gt", "gt.txt")) as ground_truth:
        return len({line.split(",")[1] for line in ground_truth if line.strip()})


if __name__ == "__main__":
    main()
