"""BoxMOT's trackers (pip boxmot, requirements-tracking.txt) with a FlipReID model exported by
export.py --layout tracker, which BoxMOT loads by path and feeds as it feeds any ONNX ReID model
(crops resized to the model's height and width, RGB, ImageNet-normalised, NCHW).

BoxMOT's appearance gates are cosine distances tuned on OSNet's embeddings; an uncentred
FlipReID export spreads its distances differently (the demo's: same-person pairs below about
0.003), so its gate is taken from the model's own evaluation by default: the distance below
which 1% of the test set's different-person pairs fall (the model's "same person?" threshold at
false positive rate 1e-2, written into its description by export.py). An export centred with
export.py --center_on_images_path spreads its distances over 0..2 and carries no thresholds:
BoxMOT's own gates apply.
"""

import math

import numpy as np

# name: (BoxMOT's class, its appearance gate's parameter or None, whether it can use appearance);
# deepsort is deep-sort-realtime's DeepSort (DeepSortRealtime below), given this project's
# embeddings.
TRACKERS = {
    "botsort": ("BotSort", "appearance_thresh", True),
    "strongsort": ("StrongSort", "max_cos_dist", True),
    "deepocsort": ("DeepOcSort", None, True),
    "hybridsort": ("HybridSort", None, True),
    "boosttrack": ("BoostTrack", None, True),
    "bytetrack": ("ByteTrack", None, False),
    "ocsort": ("OcSort", None, False),
    "deepsort": ("DeepSortRealtime", "max_cosine_distance", True),
}
ALWAYS_WITH_APPEARANCE = (
    "strongsort",
    "deepsort",
)  # DeepSORT's cascade: no mode without embeddings
GATE_RATE = "1e-2"
# docs/tracking.md's benchmark, the trained model with StrongSORT: IDF1 uncentred and centred.
STRONGSORT_IDF1 = {"uncentred": 37.0, "centred": 76.7}


def can_use_appearance(name: str) -> bool:
    """Whether the tracker `name` (a TRACKERS key) can use a ReID model's embeddings."""
    return TRACKERS[name][2]


class TrackerSetupError(Exception):
    """A tracker that cannot be set up as asked; the message says what to do."""


def reid_model_description(model_file_path: str) -> dict:
    """The description export.py wrote beside the model, checked to be of the tracker layout."""
    # Here, not at the top: deployment/ loads datasets/ (pandas, scikit-learn), seconds that a
    # run stopped by a bad flag or file before the model should not wait.
    from deployment.onnx_model import PIXELS, TRACKER, OnnxModelError, read_description

    if model_file_path.endswith((".h5", ".keras")):
        raise TrackerSetupError(
            f"{model_file_path!r} is a Keras weights file; trackers load an ONNX model. Export "
            f"it first: python export.py --model_file_path {model_file_path} --layout tracker "
            "--output_path ./exported/tracker_model.onnx"
        )
    try:
        description = read_description(model_file_path)
    except OnnxModelError as error:
        raise TrackerSetupError(str(error)) from None
    layout = description.get("layout", PIXELS)
    if layout != TRACKER:
        raise TrackerSetupError(
            f"{model_file_path!r} was exported with --layout {layout}: it takes (batch, H, W, 3) "
            "pixels in 0..255, while trackers feed ONNX ReID models (batch, 3, H, W) "
            "ImageNet-normalised crops. Export it again for trackers: python export.py "
            f"--model_file_path {description.get('exported_from', 'inference_model.h5')} "
            "--layout tracker --output_path ./exported/tracker_model.onnx"
        )
    return description


def load_reid_model(model_file_path: str):
    """The model as deployment.OnnxModel; TrackerSetupError when ONNX Runtime cannot load it
    (a truncated or overwritten .onnx)."""
    from deployment.onnx_model import OnnxModel, OnnxModelError

    try:
        return OnnxModel(model_file_path)
    except OnnxModelError as error:
        raise TrackerSetupError(str(error)) from None


def check_appearance_threshold(appearance_threshold: float | None) -> None:
    """A gate must be a cosine distance: finite, in 0..2 (None: the default gate)."""
    if appearance_threshold is None:
        return
    if not math.isfinite(appearance_threshold) or not 0 <= appearance_threshold <= 2:
        raise TrackerSetupError(
            f"--appearance_threshold is {appearance_threshold:g}; it is a cosine distance, a "
            "finite number in 0..2 (0: identical embeddings only, 2: opposite ones too; BoxMOT's "
            "defaults are 0.2 and 0.25). Give such a number, or leave the flag out for the "
            "model's own gate."
        )


def appearance_caution(
    name: str, *, model_file_path: str | None, use_appearance: bool
) -> str | None:
    """A warning for a tracker and model that docs/tracking.md measured to go badly together,
    or None: StrongSORT with an uncentred export."""
    if name != "strongsort" or not use_appearance or model_file_path is None:
        return None
    if "centered_on" in reid_model_description(model_file_path):
        return None
    return (
        f"Warning: {model_file_path} is an uncentred export (its description names no "
        "--center_on_images_path), and StrongSORT gates the cosine distance of such embeddings "
        "badly: docs/tracking.md's generated benchmark measured the demo's trained model with it "
        f"at IDF1 {STRONGSORT_IDF1['uncentred']} uncentred against {STRONGSORT_IDF1['centred']} "
        "centred. Export it with export.py --center_on_images_path (your training images), or "
        "use botsort or deepsort."
    )


def model_gate(description: dict) -> float | None:
    """The model's own "same person?" distance at false positive rate 1e-2, if it has one."""
    thresholds = (description.get("same_person") or {}).get("thresholds") or {}
    value = thresholds.get(GATE_RATE)
    return None if value is None else float(value)


def make_tracker(
    name: str,
    *,
    model_file_path: str | None,
    use_appearance: bool,
    appearance_threshold: float | None = None,
    frame_rate: float = 30.0,
):
    """A BoxMOT tracker object: tracker.update(detections (n, 6) x1 y1 x2 y2 score class, BGR
    frame) -> (m, 8) rows x1 y1 x2 y2 track score class detection_index.

    appearance_threshold: the gate's cosine distance (None: the model's, else BoxMOT's default).
    """
    class_name, gate_parameter, _ = TRACKERS[name]
    check_appearance_threshold(appearance_threshold)
    options = {}
    if use_appearance and not can_use_appearance(name):
        raise TrackerSetupError(
            f"{name} tracks by motion only; for appearance choose one of "
            f"{', '.join(tracker for tracker in TRACKERS if can_use_appearance(tracker))}, or "
            "give --nouse_appearance."
        )
    if not use_appearance and name in ALWAYS_WITH_APPEARANCE:
        raise TrackerSetupError(
            f"{name} always uses appearance; for a tracker without it choose botsort, "
            "deepocsort, hybridsort or boosttrack with --nouse_appearance, or bytetrack or ocsort."
        )
    if use_appearance:
        if model_file_path is None:
            raise TrackerSetupError(
                "Tracking with appearance needs a ReID model: --model_file_path "
                "tracker_model.onnx (export.py --layout tracker), or --nouse_appearance."
            )
        description = reid_model_description(model_file_path)
        options.update(reid_weights=model_file_path, device="cpu", half=False)
        if can_use_appearance(name) and name not in ALWAYS_WITH_APPEARANCE:
            options["use_embeddings"] = True
        gate = appearance_threshold if appearance_threshold is not None else model_gate(description)
        if gate_parameter is not None and gate is not None:
            options[gate_parameter] = gate
    elif can_use_appearance(name):
        options["use_embeddings"] = False
    if name in ("botsort", "bytetrack"):
        options["frame_rate"] = int(round(frame_rate))
    if name == "deepsort":
        return DeepSortRealtime(**options)
    if use_appearance:  # BoxMOT loads the model only at the first frame: checked here
        load_reid_model(model_file_path)
    import boxmot

    return getattr(boxmot, class_name)(**options)


class DeepSortRealtime:
    """deep-sort-realtime's DeepSort (pip deep-sort-realtime) with this project's embeddings
    (embedder=None: the crops are embedded here, as BoxMOT's ONNX backend does, by
    deployment.OnnxModel), behind BoxMOT's update(detections, frame) -> rows."""

    def __init__(self, *, reid_weights: str, max_cosine_distance: float = 0.2, **_):
        from deep_sort_realtime.deepsort_tracker import DeepSort

        self.model = load_reid_model(reid_weights)
        self.tracker = DeepSort(embedder=None, max_cosine_distance=max_cosine_distance)

    def embed(self, boxes, frame):
        """Crops of the BGR frame at the boxes (x1 y1 x2 y2, clipped to the frame), resized
        with OpenCV's bilinear resize and turned RGB."""
        import cv2

        size = (self.model.image_width, self.model.image_height)
        crops = []
        for x1, y1, x2, y2 in np.round(boxes).astype(int):
            x1, y1 = max(x1, 0), max(y1, 0)
            x2, y2 = min(x2, frame.shape[1]), min(y2, frame.shape[0])
            crops.append(cv2.cvtColor(cv2.resize(frame[y1:y2, x1:x2], size), cv2.COLOR_BGR2RGB))
        return self.model.embed(np.stack(crops))

    def update(self, detections: np.ndarray, frame: np.ndarray) -> np.ndarray:
        """detections (n, 6): x1 y1 x2 y2 score class -> (m, 8): x1 y1 x2 y2 track score class
        detection (-1: DeepSort does not say which), the confirmed tracks seen in this frame."""
        height, width = frame.shape[:2]
        visible = (
            (detections[:, 2] > np.maximum(detections[:, 0], 0) + 1)
            & (detections[:, 3] > np.maximum(detections[:, 1], 0) + 1)
            & (detections[:, 0] < width - 1)
            & (detections[:, 1] < height - 1)
        )
        detections = detections[visible]
        raw = [
            ([x1, y1, x2 - x1, y2 - y1], score, int(class_ID))
            for x1, y1, x2, y2, score, class_ID in detections.tolist()
        ]
        embeddings = list(self.embed(detections[:, :4], frame)) if len(raw) else []
        rows = []
        for track in self.tracker.update_tracks(raw, embeds=embeddings):
            if not track.is_confirmed() or track.time_since_update > 0:
                continue
            x1, y1, x2, y2 = track.to_ltrb(orig=True)
            score = track.get_det_conf()
            rows.append((x1, y1, x2, y2, float(track.track_id), score or 0.0, 0, -1))
        return np.array(rows, np.float32).reshape(-1, 8)
