"""How an image file becomes pixels, exactly as the 2021 release reads every image (training,
evaluation and search alike): OpenCV's decoder (cv2.imread), cv2.resize to (width, height) with
its default bilinear interpolation, then BGR to RGB; uint8, the aspect ratio not kept.

TensorFlow's decode_image and resize give other pixels (up to 8 grey levels apart on
Market-layout JPEG files, docs/method.md), and the 2021 checkpoints were trained and evaluated
on OpenCV's. OpenCV releases the GIL while it decodes and resizes, so the tf.data pipelines that
call it in parallel still scale with cores. Imports no TensorFlow.
"""

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

# The pipelines run many images at once in their own threads; OpenCV's own thread pool on top
# of them only adds contention.
cv2.setNumThreads(1)


class UnreadableImageError(ValueError):
    """The bytes are not an image OpenCV can decode."""


def decode_image(contents: bytes) -> np.ndarray | None:
    """(height, width, 3) uint8 BGR, as cv2.imread gives it, or None when OpenCV cannot decode
    the bytes (an empty, truncated-header or non-image file)."""
    if not contents:
        return None
    return cv2.imdecode(np.frombuffer(contents, dtype=np.uint8), cv2.IMREAD_COLOR)


def decode_and_resize_image(contents: bytes, image_height: int, image_width: int) -> np.ndarray:
    """(image_height, image_width, 3) uint8 RGB from an image file's bytes."""
    image = decode_image(contents)
    if image is None:
        raise UnreadableImageError("OpenCV cannot decode this file as an image.")
    image = cv2.resize(image, (image_width, image_height))  # default: bilinear
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def decode_and_resize_images(
    contents: np.ndarray, image_height: int, image_width: int
) -> np.ndarray:
    """(n, image_height, image_width, 3) uint8 RGB from n files' bytes: one Python call for a
    whole batch, so the pipelines pay Python's per-call cost (under the GIL) once per batch."""
    images = np.empty((len(contents), image_height, image_width, 3), dtype=np.uint8)
    for image, file_contents in zip(images, contents, strict=True):
        image[...] = decode_and_resize_image(file_contents, image_height, image_width)
    return images


def read_image(image_file_path: str, image_height: int, image_width: int) -> np.ndarray:
    """decode_and_resize_image of a file."""
    with open(image_file_path, "rb") as image_file:
        return decode_and_resize_image(image_file.read(), image_height, image_width)


def find_readable_images(image_file_paths: list[str], workers: int = 5) -> np.ndarray:
    """Boolean mask of the files that can be read and decoded the way training reads them
    (missing, empty or non-image files are False), checked in parallel threads."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        readable = pool.map(is_readable, list(image_file_paths))
        return np.fromiter(readable, dtype=bool, count=len(image_file_paths))


def is_readable(image_file_path: str) -> bool:
    try:
        with open(image_file_path, "rb") as image_file:
            contents = image_file.read()
    except OSError:
        return False
    return decode_image(contents) is not None
