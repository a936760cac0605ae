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
    embeds); OnnxModelError when the model or its description is missing."""
    if not os.path.isfile(file_path):
        raise OnnxModelError(f"The ONNX model {file_path!r} does not exist.")
    description_path = description_path_of(file_path)
    if not os.path.isfile(description_path):
        raise OnnxModelError(
            f"{file_path!r} has no description beside it ({description_path!r}), which says "
            "its input size and how it embeds; export.py writes the two together. Export "
            "the model again, or put the .json back."
        )
    with open(description_path) as description_file:
        return json.load(description_file)


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
        self.session = onnxruntime.InferenceSession(
            file_path, sess_options=options, providers=["CPUExecutionProvider"]
        )
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
