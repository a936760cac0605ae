"""Embeddings of image files with an exported ONNX model (export.py) and ONNX Runtime, without
TensorFlow: images are read and resized exactly as for the Keras model (datasets/image_files.py:
OpenCV, as the 2021 release), and batches go through the same network.

    model = OnnxModel("model.onnx")  # with model.json, written by export.py, beside it
    features = model.extract_features(paths, use_horizontal_flipping=True)
"""

import json
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from datasets.image_files import read_image
from progress_lines import ExtractionProgress

BATCH_SIZE = 64
# The input an exported model takes (export.py --layout). PIXELS: (batch, H, W, 3) RGB in 0..255,
# normalised inside, as the Keras model. TRACKER: what multi-object trackers' ReID backends feed
# an ONNX model (BoxMOT's ONNX backend, torchreid-style): (batch, 3, H, W) RGB, /255, minus the
# ImageNet mean, over its standard deviation, the height and width fixed in the graph.
PIXELS, TRACKER = "pixels", "tracker"
LAYOUTS = (PIXELS, TRACKER)


def tracker_input(images: np.ndarray, *, mean, std) -> np.ndarray:
    """(n, H, W, 3) RGB 0..255 -> (n, 3, H, W) float32 as a tracker's ReID backend makes it:
    /255, minus mean, over std (per channel)."""
    normalised = (images.astype(np.float32) / np.float32(255) - np.float32(mean)) / np.float32(std)
    return np.ascontiguousarray(normalised.transpose(0, 3, 1, 2))


class OnnxModelError(Exception):
    """An ONNX model that cannot be used; the message says what to do."""


def description_path_of(onnx_file_path: str) -> str:
    return os.path.splitext(onnx_file_path)[0] + ".json"


def read_description(file_path: str) -> dict:
    """The description export.py wrote beside an ONNX model (input size, layout, how it
    embeds), checked; OnnxModelError when the model or its description is missing or damaged."""
    description_path = description_path_of(file_path)
    if not os.path.isfile(file_path):
        unfinished = os.path.join(
            os.path.dirname(file_path), f".{os.path.basename(file_path)}.unchecked"
        )
        if os.path.exists(unfinished) and os.path.isfile(description_path):
            raise OnnxModelError(
                f"The ONNX model {file_path!r} does not exist yet: an export.py into this path "
                "was stopped before it put the model in place. Run the same export.py command "
                "again to finish it."
            )
        if os.path.isdir(file_path):
            raise OnnxModelError(
                f"The ONNX model {file_path!r} is a folder; expected the .onnx file that "
                "export.py wrote (e.g. tracker_model.onnx, with its .json beside it)."
            )
        raise OnnxModelError(f"The ONNX model {file_path!r} does not exist.")
    if not os.path.isfile(description_path):
        raise OnnxModelError(
            f"{file_path!r} has no description beside it ({description_path!r}), which says "
            "its input size and how it embeds; export.py writes the two together. Export "
            "the model again, or put the .json back."
        )
    try:
        with open(description_path, encoding="utf-8") as description_file:
            description = json.load(description_file)
    except ValueError as error:  # not JSON (JSONDecodeError), or not text (UnicodeDecodeError)
        problem = f"it is not JSON ({error})"
        raise OnnxModelError(damaged_message(description_path, problem)) from None
    problem = description_problem(description)
    if problem is not None:
        raise OnnxModelError(damaged_message(description_path, problem))
    return description


def damaged_message(path: str, problem: str) -> str:
    return (
        f"{path!r} is damaged ({problem}): export the model again "
        "(python3 export.py --model_file_path <the run's inference_model.h5> --output_path "
        "<a new .onnx path>)."
    )


def description_problem(description) -> str | None:
    """What makes a description unusable (None: nothing): the fields an ONNX model is run by."""
    from .same_person import SamePersonThresholds, ThresholdError

    if not isinstance(description, dict):
        return f"it holds a JSON {type(description).__name__}, not the object export.py writes"
    for name in ("image_height", "image_width", "embedding_dimension"):
        value = description.get(name)
        if name == "embedding_dimension" and value is None:
            continue  # descriptions before it was kept
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            return f"{name} is {value!r}, not a positive whole number"
    if not isinstance(description.get("flip_averaged"), bool):
        return f"flip_averaged is {description.get('flip_averaged')!r}, not true or false"
    layout = description.get("layout", PIXELS)
    if layout not in LAYOUTS:
        return f"layout is {layout!r}, not one of {', '.join(LAYOUTS)}"
    if layout == TRACKER:
        for name in ("input_mean", "input_std"):
            value = description.get(name)
            if not (
                isinstance(value, list)
                and len(value) == 3
                and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
                and (name == "input_mean" or all(v > 0 for v in value))
            ):
                return f"{name} is {value!r}, not three numbers"
    try:
        SamePersonThresholds.from_description(description)
    except ThresholdError as error:
        return f"its same-person thresholds are unusable: {error}"
    return None


class OnnxModel:
    """An exported model and its description (input size, whether the mirror is averaged
    inside, the "same person?" thresholds)."""

    def __init__(self, file_path: str, *, threads: int = 0):
        """threads: ONNX Runtime's intra-op threads (0: its default, one per core)."""
        try:
            import onnxruntime
        except ImportError as error:
            raise OnnxModelError(
                "Ranking with an ONNX model needs ONNX Runtime: pip install -r "
                "requirements-onnx.txt (or onnxruntime alone)."
            ) from error
        self.description = read_description(file_path)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        try:
            self.session = onnxruntime.InferenceSession(
                file_path, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # ONNX Runtime raises InvalidProtobuf, Fail, InvalidGraph...
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise OnnxModelError(
                damaged_message(
                    file_path,
                    f"ONNX Runtime cannot load it ({type(error).__name__}: {first_line[:300]}); "
                    "a truncated or overwritten file",
                )
            ) from None
        self.input_name = self.session.get_inputs()[0].name
        self.image_height = int(self.description["image_height"])
        self.image_width = int(self.description["image_width"])
        self.flip_averaged = bool(self.description["flip_averaged"])
        self.layout = self.description.get("layout", PIXELS)

    def embed(self, images: np.ndarray) -> np.ndarray:
        """(n, dimension) float32 embeddings of (n, H, W, 3) RGB images (uint8 or 0..255)."""
        inputs = images.astype(np.float32)
        if self.layout == TRACKER:
            inputs = tracker_input(
                inputs, mean=self.description["input_mean"], std=self.description["input_std"]
            )
        (features,) = self.session.run(None, {self.input_name: inputs})
        return features

    def extract_features(
        self, image_file_paths, *, use_horizontal_flipping: bool, workers: int = 5
    ) -> np.ndarray:
        """(len(paths), dimension) float32 features in the order of the paths; with flipping,
        the mean of the image's and its mirror's (inside the model when it was exported so,
        else here). Prints a progress line now and then (progress_lines.py)."""
        if self.flip_averaged and not use_horizontal_flipping:
            raise OnnxModelError(
                "This ONNX model averages each embedding with its mirror's inside (it was "
                "exported with flipping); export it again with "
                "--nouse_horizontal_flipping_in_evaluation for embeddings without."
            )
        flip_here = use_horizontal_flipping and not self.flip_averaged
        paths = list(image_file_paths)
        batches, progress = [], ExtractionProgress(len(paths))
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for first in range(0, len(paths), BATCH_SIZE):
                images = np.stack(
                    list(
                        pool.map(
                            lambda path: read_image(path, self.image_height, self.image_width),
                            paths[first : first + BATCH_SIZE],
                        )
                    )
                )
                features = self.embed(images)
                if flip_here:
                    features = (features + self.embed(images[:, :, ::-1])) / 2
                batches.append(features)
                progress.update(first + len(images))
        if not batches:
            return np.zeros((0, int(self.description["embedding_dimension"])), np.float32)
        return np.concatenate(batches).astype(np.float32)
