"""A FlipReID model in BoxMOT's trackers, as users run them: BoxMOT loads the exported file by
path and computes this project's embeddings; track.py tracks a generated sequence into MOT rows
that TrackEval scores; bad input gets one clear message each."""

import inspect
import json
import os
import shutil

import cv2
import numpy as np
import pytest
from conftest import SHORT_SCENE, TINY_FRAME_NUM, TRAINING_PYTHON, run_program

from deployment.onnx_model import OnnxModel
from tracking.evaluation import score_tracks
from tracking.mot_files import read_detections, write_tracks
from tracking.trackers import make_tracker

BOUND = 1e-5  # L2-normalised embeddings: float32 rounding of another order of operations


def run_track(source, detections_path, output_folder, flags=()):
    """(exit status, output) of track.py on source with the detections, writing into
    output_folder; flags: any others."""
    return run_program(
        [
            "track.py",
            "--source",
            str(source),
            "--detections_path",
            str(detections_path),
            "--output_folder_path",
            str(output_folder),
            *flags,
        ]
    )


def test_boxmot_loads_the_export_by_path_and_embeds_crops_as_we_do(tracker_model, short_sequence):
    """Crops of people at integer boxes of a generated frame: BoxMOT's own ReID runtime (it
    crops, resizes and normalises) against deployment.OnnxModel on the same crops, resized as
    this project reads images (OpenCV's bilinear resize of the RGB crop)."""
    assert_boxmot_embeds_crops_as_we_do(tracker_model, short_sequence)


def test_boxmot_tracks_with_a_dinov2_small_export(short_sequence, tiny_sequence, tmp_path):
    """A keras-hub ViT (the real dinov2_small at 56x28, random weights) exported for trackers by
    the training environment, as the resnet18 of the other tests: BoxMOT computes its
    embeddings as we do, and track.py's BoT-SORT tracks a few frames with it."""
    model_path = str(tmp_path / "dinov2_small_tracker.onnx")
    status, output = run_program(
        ["benchmarks/untrained_tracker_model.py", "--output_path", model_path]
        + ["--backbone_model_name", "dinov2_small", "--image_height", "56", "--image_width", "28"],
        python=TRAINING_PYTHON,
    )
    assert status == 0, output[-3000:]
    assert "largest difference from the Keras model" in output
    model = OnnxModel(model_path)
    assert model.description["backbone_model_name"] == "dinov2_small"
    assert (model.image_height, model.image_width) == (56, 28)
    assert_boxmot_embeds_crops_as_we_do(model_path, short_sequence)

    output_folder = tmp_path / "tracks"
    status, output = run_track(
        os.path.join(tiny_sequence, "img1"),
        os.path.join(tiny_sequence, "det", "det.txt"),
        output_folder,
        ["--model_file_path", model_path, "--tracker", "botsort"],
    )
    assert status == 0, output[-3000:]
    rows = np.loadtxt(output_folder / "tracks.txt", delimiter=",", ndmin=2)
    assert rows.shape[1] == 10 and set(rows[:, 0]) == set(range(1, TINY_FRAME_NUM + 1))


def assert_boxmot_embeds_crops_as_we_do(model_path, sequence):
    from boxmot.reid.core import ReID

    frame = cv2.imread(os.path.join(sequence, "img1", "000040.jpg"))
    detections = read_detections(os.path.join(sequence, "det", "det.txt"))[40]
    boxes = np.round(detections[:, :4]).astype(np.int64)
    boxes[:, :2] = np.maximum(boxes[:, :2], 0)
    boxes[:, 2] = np.minimum(boxes[:, 2], frame.shape[1])
    boxes[:, 3] = np.minimum(boxes[:, 3], frame.shape[0])
    assert len(boxes) >= 2
    found = ReID(weights=model_path, device="cpu", half=False).model.get_features(
        boxes.astype(np.float32), frame
    )

    model = OnnxModel(model_path)
    size = (model.image_width, model.image_height)
    crops = np.stack(
        [
            cv2.resize(cv2.cvtColor(frame[y1:y2, x1:x2], cv2.COLOR_BGR2RGB), size)
            for x1, y1, x2, y2 in boxes
        ]
    )
    expected = model.embed(crops)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert found.shape == expected.shape
    assert np.abs(found - expected).max() <= BOUND


def test_the_model_gate_is_the_models_own_same_person_distance(tracker_model, tmp_path):
    model_path = str(tmp_path / "gated.onnx")
    shutil.copyfile(tracker_model, model_path)
    with open(tracker_model[: -len(".onnx")] + ".json") as description_file:
        description = json.load(description_file)
    description["same_person"] = {  # every field a description's entry has (export.py's)
        "dataset": "Synthetic",
        "epoch": 3,
        "flip_averaged": True,
        "thresholds": {"1e-2": 0.0123, "1e-3": 0.005},
        "true_positive_rates": {"1e-2": 0.7, "1e-3": 0.3},
        "roc_auc": 0.98,
    }
    with open(tmp_path / "gated.json", "w") as description_file:
        json.dump(description, description_file)
    tracker = make_tracker("botsort", model_file_path=model_path, use_appearance=True)
    assert tracker.appearance_thresh == 0.0123 and tracker.use_embeddings
    tracker = make_tracker(
        "strongsort", model_file_path=model_path, use_appearance=True, appearance_threshold=0.2
    )
    assert tracker.metric.matching_threshold == 0.2  # StrongSORT's max_cos_dist
    motion_only = make_tracker("botsort", model_file_path=None, use_appearance=False)
    assert motion_only.use_embeddings is False
    # A model without thresholds (untrained, or exported centred): BoxMOT's own gate.
    from boxmot import BotSort

    default = inspect.signature(BotSort).parameters["appearance_thresh"].default
    assert (
        make_tracker(
            "botsort", model_file_path=tracker_model, use_appearance=True
        ).appearance_thresh
        == default
    )


@pytest.mark.parametrize("tracker", ["botsort", "deepsort"])
def test_track_py_tracks_a_sequence_into_mot_rows_that_trackeval_scores(
    tracker, tracker_model, short_sequence, tmp_path
):
    """BoxMOT's BoT-SORT, and deep-sort-realtime's DeepSort given this project's embeddings."""
    output_folder = tmp_path / "tracks"
    status, output = run_track(
        os.path.join(short_sequence, "img1"),
        os.path.join(short_sequence, "det", "det.txt"),
        output_folder,
        ["--model_file_path", tracker_model, "--tracker", tracker],
    )
    assert status == 0, output[-3000:]
    rows = np.loadtxt(output_folder / "tracks.txt", delimiter=",", ndmin=2)
    assert rows.shape[1] == 10 and len(rows) > 0
    assert set(rows[:, 0]) <= set(range(1, SHORT_SCENE.frame_num + 1))
    assert (rows[:, 1] >= 1).all() and (rows[:, 4:6] > 0).all()
    assert (rows[:, 7:] == -1).all()
    drawn = sorted(os.listdir(output_folder / "annotated"))
    assert drawn[0] == "000001.jpg" and len(drawn) == SHORT_SCENE.frame_num

    ground_truth = os.path.join(short_sequence, "gt", "gt.txt")
    scores = score_tracks(
        {"short": (ground_truth, SHORT_SCENE.frame_num)},
        {"track.py": {"short": str(output_folder / "tracks.txt")}},
    )["track.py"]
    # Boxes in the wrong convention (corners for width and height, or shifted by a frame) would
    # match almost nothing: MOTA far below zero.
    assert scores["MOTA"] > 50 and 0 < scores["IDF1"] <= 100


def test_trackeval_scores_a_swap_as_the_identity_measures_define_it(short_sequence, tmp_path):
    """The ground truth as tracks, with two identities' track numbers swapped from frame 31 on:
    MOTA counts the two switches; IDF1 = 2 IDTP / (2 IDTP + IDFP + IDFN), with each identity
    matched to the track that covers most of its boxes, computed here by hand."""
    ground_truth_path = os.path.join(short_sequence, "gt", "gt.txt")
    truth = np.loadtxt(ground_truth_path, delimiter=",", ndmin=2)
    counts = {identity: (truth[:, 1] == identity).sum() for identity in np.unique(truth[:, 1])}
    both = [
        identity
        for identity in counts
        if ((truth[:, 1] == identity) & (truth[:, 0] <= 30)).any()
        and ((truth[:, 1] == identity) & (truth[:, 0] > 30)).any()
    ]
    first, second = both[:2]
    tracks = truth.copy()
    late = tracks[:, 0] > 30
    tracks[late & (truth[:, 1] == first), 1] = second
    tracks[late & (truth[:, 1] == second), 1] = first
    tracks_path = str(tmp_path / "swapped.txt")
    write_tracks(tracks_path, [(*row[:6], 1.0) for row in tracks])
    exact_path = str(tmp_path / "exact.txt")
    write_tracks(exact_path, [(*row[:6], 1.0) for row in truth])

    scores = score_tracks(
        {"short": (ground_truth_path, SHORT_SCENE.frame_num)},
        {"swapped": {"short": tracks_path}, "exact": {"short": exact_path}},
    )
    assert scores["exact"]["IDF1"] == 100 and scores["exact"]["MOTA"] == 100
    assert scores["exact"]["IDSW"] == 0
    assert scores["swapped"]["IDSW"] == 2

    # By hand: the boxes of first and second before and after the swap.
    early_first = ((truth[:, 1] == first) & ~late).sum()
    late_first = ((truth[:, 1] == first) & late).sum()
    early_second = ((truth[:, 1] == second) & ~late).sum()
    late_second = ((truth[:, 1] == second) & late).sum()
    # Tracks "first" = early first + late second, "second" = early second + late first. The
    # best one-to-one matching of the two identities to the two tracks:
    straight = early_first + early_second
    crossed = late_first + late_second
    true_positives = sum(counts.values()) - early_first - early_second - late_first - late_second
    true_positives += max(straight, crossed)
    box_num = sum(counts.values())
    expected = 2 * true_positives / (2 * box_num)  # IDFP = IDFN = boxes - IDTP
    assert abs(scores["swapped"]["IDF1"] - 100 * expected) < 1e-9


def test_bad_input_gets_one_clear_message_each(tracker_model, short_sequence, tmp_path):
    detections = os.path.join(short_sequence, "det", "det.txt")
    frames = os.path.join(short_sequence, "img1")

    def track(source, detections_path, model_path, output="out") -> str:
        status, output_text = run_track(
            source, detections_path, tmp_path / output, ["--model_file_path", model_path]
        )
        assert status != 0 and "Traceback" not in output_text, output_text[-3000:]
        return output_text

    broken_video = tmp_path / "broken.mp4"
    broken_video.write_bytes(b"\x00not a video" * 100)
    assert "cannot read" in track(str(broken_video), detections, tracker_model)

    spaces = tmp_path / "spaces.txt"
    spaces.write_text("1 -1 10 20 30 60 0.9\n")
    message = track(frames, str(spaces), tracker_model)
    assert "line 1" in message and "separated by spaces" in message

    corners = tmp_path / "corners.txt"  # a negative width: right and bottom corners, not w, h
    with open(detections) as detections_file:
        first_line = detections_file.readline()
    with open(corners, "w") as corners_file:
        corners_file.write(first_line + "2,-1,100,50,-20,40,0.9\n")
    assert "line 2" in track(frames, str(corners), tracker_model)

    pixels_model = str(tmp_path / "pixels.onnx")
    shutil.copyfile(tracker_model, pixels_model)
    with open(tracker_model[: -len(".onnx")] + ".json") as description_file:
        description = json.load(description_file)
    description["layout"] = "pixels"
    with open(tmp_path / "pixels.json", "w") as description_file:
        json.dump(description, description_file)
    assert "--layout tracker" in track(frames, detections, pixels_model)

    assert "export.py" in track(frames, detections, str(tmp_path / "inference_model.h5"))

    (tmp_path / "earlier").mkdir()
    (tmp_path / "earlier" / "tracks.txt").write_text("kept\n")
    assert "exists" in track(frames, detections, tracker_model, output="earlier")
    assert (tmp_path / "earlier" / "tracks.txt").read_text() == "kept\n"


def test_track_py_reads_a_video_and_draws_one(tracker_model, short_sequence, tmp_path):
    names = sorted(os.listdir(os.path.join(short_sequence, "img1")))[:20]
    first = cv2.imread(os.path.join(short_sequence, "img1", names[0]))
    video_path = str(tmp_path / "clip.avi")
    writer = cv2.VideoWriter(
        video_path, cv2.VideoWriter_fourcc(*"MJPG"), 25, (first.shape[1], first.shape[0])
    )
    for name in names:
        writer.write(cv2.imread(os.path.join(short_sequence, "img1", name)))
    writer.release()
    status, output = run_track(
        video_path,
        os.path.join(short_sequence, "det", "det.txt"),
        tmp_path / "tracks",
        ["--model_file_path", tracker_model],
    )
    assert status == 0, output[-3000:]
    assert "later ones are left out" in output  # det.txt covers 60 frames, the clip 20
    drawn = cv2.VideoCapture(str(tmp_path / "tracks" / "annotated.mp4"))
    assert int(drawn.get(cv2.CAP_PROP_FRAME_COUNT)) == len(names)
    rows = np.loadtxt(tmp_path / "tracks" / "tracks.txt", delimiter=",", ndmin=2)
    assert rows[:, 0].max() <= len(names)


def test_a_motion_only_tracker_needs_no_model(short_sequence, tmp_path):
    """--tracker bytetrack without a model and without --nouse_appearance: by motion only."""
    status, output = run_track(
        os.path.join(short_sequence, "img1"),
        os.path.join(short_sequence, "det", "det.txt"),
        tmp_path / "tracks",
        ["--tracker", "bytetrack", "--noannotate"],
    )
    assert status == 0, output[-3000:]
    assert "bytetrack, by motion only" in output
    assert len(np.loadtxt(tmp_path / "tracks" / "tracks.txt", delimiter=",", ndmin=2)) > 0
    assert not (tmp_path / "tracks" / "annotated").exists()
