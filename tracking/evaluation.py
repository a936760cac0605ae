"""Tracks scored against ground truth by TrackEval (pip trackeval, the code of the MOT Challenge
and HOTA papers' authors): HOTA, IDF1, MOTA and identity switches, read from MOT files.

TrackEval reads MOT Challenge's folder layout, so the files are copied into one in a temporary
folder: <gt>/<sequence>/gt/gt.txt and <trackers>/<name>/data/<sequence>.txt, with MOT17's
preprocessing (a track box matched to a ground-truth box that is not a pedestrian is removed;
here every ground-truth box is a pedestrian).
"""

import os
import shutil
import tempfile

METRIC_NAMES = ("HOTA", "IDF1", "MOTA", "IDSW", "IDs")


def score_tracks(sequences: dict, tracks_paths: dict) -> dict:
    """name -> {HOTA, IDF1, MOTA (percent), IDSW (identity switches), IDs (track count)} over
    all sequences together. sequences: sequence -> (gt.txt path, frame count); tracks_paths:
    name -> {sequence -> tracks file}."""
    import trackeval

    with tempfile.TemporaryDirectory() as folder:
        ground_truth_folder = os.path.join(folder, "gt")
        trackers_folder = os.path.join(folder, "trackers")
        for sequence, (ground_truth_path, _) in sequences.items():
            os.makedirs(os.path.join(ground_truth_folder, sequence, "gt"))
            copy = os.path.join(ground_truth_folder, sequence, "gt", "gt.txt")
            shutil.copyfile(ground_truth_path, copy)
        for name, paths in tracks_paths.items():
            os.makedirs(os.path.join(trackers_folder, name, "data"))
            for sequence, tracks_path in paths.items():
                copy = os.path.join(trackers_folder, name, "data", f"{sequence}.txt")
                shutil.copyfile(tracks_path, copy)
        evaluator = trackeval.Evaluator(
            {
                **trackeval.Evaluator.get_default_eval_config(),
                "PRINT_RESULTS": False,
                "PRINT_ONLY_COMBINED": False,
                "PRINT_CONFIG": False,
                "TIME_PROGRESS": False,
                "DISPLAY_LESS_PROGRESS": True,
                "OUTPUT_SUMMARY": False,
                "OUTPUT_EMPTY_CLASSES": False,
                "OUTPUT_DETAILED": False,
                "PLOT_CURVES": False,
            }
        )
        dataset = trackeval.datasets.MotChallenge2DBox(
            {
                **trackeval.datasets.MotChallenge2DBox.get_default_dataset_config(),
                "GT_FOLDER": ground_truth_folder,
                "TRACKERS_FOLDER": trackers_folder,
                "OUTPUT_FOLDER": os.path.join(folder, "output"),
                "TRACKERS_TO_EVAL": list(tracks_paths),
                "SEQ_INFO": {sequence: frame_num for sequence, (_, frame_num) in sequences.items()},
                "SKIP_SPLIT_FOL": True,
                "PRINT_CONFIG": False,
            }
        )
        metrics = [
            trackeval.metrics.HOTA({"PRINT_CONFIG": False}),
            trackeval.metrics.CLEAR({"PRINT_CONFIG": False}),
            trackeval.metrics.Identity({"PRINT_CONFIG": False}),
        ]  # and Count, which TrackEval always adds
        results, _ = evaluator.evaluate([dataset], metrics)
    scores = {}
    for name in tracks_paths:
        values = results["MotChallenge2DBox"][name]["COMBINED_SEQ"]["pedestrian"]
        scores[name] = {
            "HOTA": 100 * float(values["HOTA"]["HOTA"].mean()),
            "IDF1": 100 * float(values["Identity"]["IDF1"]),
            "MOTA": 100 * float(values["CLEAR"]["MOTA"]),
            "IDSW": int(values["CLEAR"]["IDSW"]),
            "IDs": int(values["Count"]["IDs"]),
        }
    return scores
