"""Triplet loss with batch-hard mining (Hermans, Beyer and Leibe 2017, arXiv 1703.07737).

triplet_loss.py: pairwise distances and the batch-hard triplet loss.
"""

import legacy_keras  # noqa: F401, I001  (Keras 2 must be selected before TensorFlow is imported)

from .triplet_loss import (
    METRICS,
    batch_hard_triplet_loss,
    global_batch_hard_triplet_loss,
    pairwise_distances,
)

__all__ = [
    "batch_hard_triplet_loss",
    "global_batch_hard_triplet_loss",
    "METRICS",
    "pairwise_distances",
]
