"""What happens to an image: the training augmentation and the tf.data pipelines that feed the
model; how a file becomes pixels (datasets/image_files.py, without TensorFlow) is handed on."""

import tensorflow_setup  # noqa: F401, I001  (oneDNN and a quiet start, before TensorFlow is imported)

from .pipeline import (
    ReplicaShare,
    build_evaluation_dataset,
    build_training_dataset,
    decode_and_resize,
)
from .transforms import (
    ERASING_COLOR,
    FILL_COLOR,
    PADDING_COLOR,
    PARAMETER_NAMES,
    apply_augmentation,
    sample_augmentation,
)
from datasets.image_files import (
    UnreadableImageError,
    decode_and_resize_image,
    decode_and_resize_images,
    find_readable_images,
    read_image,
)
from settings import AugmentationSettings

__all__ = [
    "ERASING_COLOR",
    "FILL_COLOR",
    "PADDING_COLOR",
    "PARAMETER_NAMES",
    "apply_augmentation",
    "AugmentationSettings",
    "ReplicaShare",
    "build_evaluation_dataset",
    "build_training_dataset",
    "sample_augmentation",
    "decode_and_resize",
    "find_readable_images",
    "decode_and_resize_image",
    "decode_and_resize_images",
    "read_image",
    "UnreadableImageError",
]
