"""L2 regularisation as in the FlipReID release: factor * sum(w^2) on kernels, biases and
BatchNormalization gamma and beta, one factor per kind (l2.py)."""

import tensorflow_setup  # noqa: F401, I001  (oneDNN and a quiet start, before Keras imports TensorFlow)

from settings import RegularizationSettings

from .l2 import KERNEL_TYPES, L2Penalty, add_all, collect_regularized_variables

__all__ = [
    "KERNEL_TYPES",
    "L2Penalty",
    "RegularizationSettings",
    "add_all",
    "collect_regularized_variables",
]
