"""The program's losses (metric_learning's batch-hard triplet loss, and Keras' categorical
cross-entropy that the training step applies to the heads) on the JAX backend: run by
tests/test_keras3_jax.py with KERAS_BACKEND=jax. Reads labels, embeddings, one_hot and
probabilities from the .npz named by the first argument; writes to the second the per-sample
losses and jax.grad's gradient of each loss's batch mean with respect to its input.
"""

import sys

import jax
import keras
import numpy as np
from keras import ops

from metric_learning import batch_hard_triplet_loss


def main(inputs_path: str, output_path: str) -> None:
    if keras.backend.backend() != "jax":
        raise SystemExit(f"Keras runs on {keras.backend.backend()!r}: set KERAS_BACKEND=jax.")
    inputs = np.load(inputs_path)

    def mean_triplet(embeddings):
        return ops.mean(batch_hard_triplet_loss(inputs["labels"], embeddings))

    def mean_cross_entropy(probabilities):
        return ops.mean(keras.losses.categorical_crossentropy(inputs["one_hot"], probabilities))

    np.savez(
        output_path,
        triplet=np.asarray(batch_hard_triplet_loss(inputs["labels"], inputs["embeddings"])),
        triplet_gradient=np.asarray(jax.grad(mean_triplet)(inputs["embeddings"])),
        cross_entropy=np.asarray(
            keras.losses.categorical_crossentropy(inputs["one_hot"], inputs["probabilities"])
        ),
        cross_entropy_gradient=np.asarray(jax.grad(mean_cross_entropy)(inputs["probabilities"])),
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
