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
count is printed above the table. Writes benchmarks/results/tracking.md, again after each row
(a row's scores are printed as it finishes); with --sequence_folder each finished row is also kept
there (scores/<tracker>-<appearance>.json) and a rerun of the same command skips it, so an
interrupted run goes on where it stopped. The model files are checked before anything is
generated.
"""

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time

from common import RESULTS_FOLDER, MarkdownTable

from atomic_files import WriteError, write_atomically
from tracking.evaluation import score_tracks
from tracking.frames import FrameSource
from tracking.mot_files import read_detections, write_tracks
from tracking.scene import SceneSettings, generate_sequence, write_sequence
from tracking.track_frames import track_frames
from tracking.trackers import (
    TrackerSetupError,
    can_use_appearance,
    make_tracker,
    reid_model_description,
)

# Trackers and whether they also run by motion only; each with appearance runs with each model.
TRACKERS = (
    ("bytetrack", True),
    ("botsort", True),
    ("deepocsort", True),
    ("strongsort", False),
    ("deepsort", False),  # deep-sort-realtime, not BoxMOT
)
MODELS = ("untrained", "trained", "untrained_centered", "trained_centered")


def cases(models: dict, tracker_names) -> list[tuple[str, str]]:
    """(tracker, appearance): "none" for motion only, else a key of models."""
    chosen = []
    for tracker_name, by_motion in TRACKERS:
        if tracker_name not in tracker_names:
            continue
        chosen += [(tracker_name, "none")] if by_motion else []
        if can_use_appearance(tracker_name):
            chosen += [(tracker_name, model) for model in models]
    return chosen


def main() -> None:
    arguments = parse_arguments()
    models = {
        model: path for model in MODELS if (path := getattr(arguments, f"{model}_model_path"))
    }
    for model, path in models.items():  # all of them before anything is generated
        try:
            reid_model_description(path)
        except TrackerSetupError as error:
            sys.exit(f"Error: --{model}_model_path: {error}")
    try:
        with tempfile.TemporaryDirectory() as temporary_folder:
            run(arguments, models=models, folder=arguments.sequence_folder or temporary_folder)
    except (TrackerSetupError, WriteError) as error:
        sys.exit(f"Error: {error}")


def parse_arguments() -> argparse.Namespace:
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
        "--sequence_folder",
        help="Keep the sequences, and each finished row's scores, here (MOT layout; default: a "
        "temporary one, and a rerun starts again).",
    )
    parser.add_argument(
        "--trackers",
        default=",".join(name for name, _ in TRACKERS),
        help="The trackers to run, comma-separated (default: all).",
    )
    parser.add_argument("--output_path", default=os.path.join(RESULTS_FOLDER, "tracking.md"))
    arguments = parser.parse_args()
    unknown = set(arguments.trackers.split(",")) - {name for name, _ in TRACKERS}
    if unknown:
        parser.error(
            f"--trackers: unknown {', '.join(sorted(unknown))}; choose among "
            f"{', '.join(name for name, _ in TRACKERS)}."
        )
    return arguments


def run(arguments: argparse.Namespace, *, models: dict, folder: str) -> None:
    """Generate (or reuse) the sequences in folder, then track and score row by row."""
    seeds = [int(seed) for seed in arguments.seeds.split(",")]
    sequences = {}
    for seed in seeds:
        sequence_path = os.path.join(folder, f"generated-{seed:02d}")
        if not os.path.isdir(sequence_path):
            settings = SceneSettings(frame_num=arguments.frame_num, seed=seed)
            write_sequence(sequence_path, generate_sequence(settings))
        sequences[f"generated-{seed:02d}"] = sequence_path
    identity_num = sum(count_identities(path) for path in sequences.values())
    print(f"{len(sequences)} sequences of {arguments.frame_num} frames, {identity_num} people")
    ground_truth = {
        sequence: (os.path.join(path, "gt", "gt.txt"), arguments.frame_num)
        for sequence, path in sequences.items()
    }
    chosen = cases(models, arguments.trackers.split(","))
    table = MarkdownTable(
        ["tracker", "appearance", "HOTA", "IDF1", "MOTA", "ID switches", "tracks", "frames/s"]
    )
    for row_index, (tracker_name, appearance) in enumerate(chosen, start=1):
        name = f"{tracker_name}-{appearance}"
        row_path = os.path.join(folder, "scores", f"{name}.json")
        settings = {
            "seeds": seeds,
            "frame_num": arguments.frame_num,
            "model_sha256": file_sha256(models[appearance]) if appearance in models else None,
        }
        row = read_row(row_path, settings)
        if row is None:
            row = measure_row(
                tracker_name,
                appearance,
                models=models,
                sequences=sequences,
                ground_truth=ground_truth,
                tracks_folder=folder,
            )
            if arguments.sequence_folder:
                write_atomically(row_path, json.dumps({"settings": settings, **row}) + "\n")
        else:
            print(f"{name}: scored by an earlier run of this command ({row_path})")
        table.add_row(table_cells(tracker_name, appearance, row))
        lines = list(table.lines)
        note = f"{len(sequences)} generated sequences, {identity_num} people."
        if row_index < len(chosen):
            note += f" {row_index} of {len(chosen)} rows so far."
        lines.insert(1, note)
        write_atomically(arguments.output_path, "\n".join(lines) + "\n")
    print(f"Written to {arguments.output_path}")


def measure_row(
    tracker_name: str, appearance: str, *, models, sequences, ground_truth, tracks_folder
) -> dict:
    """{"scores": score_tracks' scores, "frames_per_second"} of one tracker and appearance."""
    name = f"{tracker_name}-{appearance}"
    tracks_paths, seconds, frames = {}, 0.0, 0
    for sequence, sequence_path in sequences.items():
        source = FrameSource(os.path.join(sequence_path, "img1"))
        detections = read_detections(os.path.join(sequence_path, "det", "det.txt"))
        tracker = make_tracker(
            tracker_name,
            model_file_path=models.get(appearance),
            use_appearance=appearance != "none",
            frame_rate=25,
        )
        start = time.perf_counter()
        rows = track_frames(source, detections, tracker, frame_num=source.frame_num)
        seconds += time.perf_counter() - start
        frames += source.frame_num
        tracks_paths[sequence] = os.path.join(tracks_folder, f"{name}-{sequence}.txt")
        write_tracks(tracks_paths[sequence], rows)
    scores = score_tracks(ground_truth, {name: tracks_paths})[name]
    return {"scores": scores, "frames_per_second": frames / seconds}


def read_row(row_path: str, settings: dict) -> dict | None:
    """A row an earlier run finished with the same settings and model, or None."""
    try:
        with open(row_path) as row_file:
            row = json.load(row_file)
    except (OSError, ValueError):
        return None
    return row if row.get("settings") == settings else None


def file_sha256(file_path: str) -> str:
    digest = hashlib.sha256()
    with open(file_path, "rb") as model_file:
        for block in iter(lambda: model_file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def table_cells(tracker_name: str, appearance: str, row: dict) -> list:
    score = row["scores"]
    return [
        tracker_name,
        "none (motion only)"
        if appearance == "none"
        else appearance.replace("_centered", ", centred") + " FlipReID",
        f"{score['HOTA']:.1f}",
        f"{score['IDF1']:.1f}",
        f"{score['MOTA']:.1f}",
        score["IDSW"],
        score["IDs"],
        f"{row['frames_per_second']:.0f}",
    ]


def count_identities(sequence_path: str) -> int:
    with open(os.path.join(sequence_path, "gt", "gt.txt")) as ground_truth:
        return len({line.split(",")[1] for line in ground_truth if line.strip()})


if __name__ == "__main__":
    main()
