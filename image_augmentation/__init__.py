"""What happens to a training image: augmentation and the tf.data pipelines that feed the model."""

import legacy_keras  # noqa: F401, I001  (Keras 2 must be selected before TensorFlow is imported)

from .pipeline import (
    ReplicaShare,
    build_evaluation_dataset,
    build_training_dataset,
    decode_and_resize,
    find_readable_images,
)
from .transforms import (
    FILL_COLOR,
    PARAMETER_NAMES,
    AugmentationSettings,
    apply_augmentation,
    build_training_augmentation,
    sample_augmentation,
)

__all__ = [
    "FILL_COLOR",
    "PARAMETER_NAMES",
    "apply_augmentation",
    "AugmentationSettings",
    "ReplicaShare",
    "build_evaluation_dataset",
    "build_training_augmentation",
    "build_training_dataset",
    "sample_augmentation",
    "decode_and_resize",
    "find_readable_images",
]
