"""Triplet loss with batch-hard mining (Hermans, Beyer and Leibe 2017, arXiv 1703.07737), in
keras.ops: the same on every Keras backend, mined over all replicas under tf.distribute.

triplet_loss.py: pairwise distances and the batch-hard triplet loss.
"""

import tensorflow_setup  # noqa: F401, I001  (oneDNN and a quiet start, before Keras imports TensorFlow)

from .triplet_loss import (
    batch_hard_triplet_loss,
    global_batch_hard_triplet_loss,
    pairwise_euclidean_distances,
)

__all__ = [
    "batch_hard_triplet_loss",
    "global_batch_hard_triplet_loss",
    "pairwise_euclidean_distances",
]
