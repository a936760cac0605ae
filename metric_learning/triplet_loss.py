"""FlipReID's losses in keras.ops: batch-hard triplet loss (Hermans, Beyer and Leibe 2017, arXiv
1703.07737) with the soft margin on Euclidean distances, and categorical cross-entropy on the
heads' softmax, each operation the one the Keras 2 versions of this program ran
(tests/keras2_reference/triplet_loss.py).
"""

import keras
from keras import ops


def pairwise_euclidean_distances(embeddings):
    """(batch, batch) sqrt(sum of squares + 1e-12), in float32: the gradient stays finite for
    equal embeddings."""
    embeddings = ops.cast(embeddings, "float32")
    differences = embeddings[:, None, :] - embeddings[None, :, :]
    return ops.sqrt(ops.sum(ops.square(differences), axis=-1) + 1e-12)


def batch_hard_triplet_loss(identity_labels, embeddings):
    """(batch,) softplus(d(anchor, farthest positive) - d(anchor, closest negative)).

    Args:
        identity_labels: (batch,) or (batch, 1) identities.
        embeddings: (batch, dimension), any float dtype.
    """
    distances = pairwise_euclidean_distances(embeddings)
    labels = ops.reshape(identity_labels, [-1])
    same_identity = ops.equal(labels[:, None], labels[None, :])
    hardest_positive = ops.max(ops.where(same_identity, distances, 0.0), axis=1)
    largest = ops.max(distances, axis=1, keepdims=True)
    # Positives are pushed above every negative before the minimum, without infinities.
    hardest_negative = ops.min(
        ops.where(same_identity, distances + largest + 1.0, distances), axis=1
    )
    return ops.softplus(hardest_positive - hardest_negative)


def global_batch_hard_triplet_loss(identity_labels, embeddings):
    """batch_hard_triplet_loss mined over the global batch when TensorFlow trains on several
    replicas (as metric_learning.global_batch_hard_triplet_loss): each replica gathers every
    replica's embeddings and labels and returns its own anchors' losses."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            local_num = tf.shape(embeddings)[0]
            all_embeddings = context.all_gather(embeddings, axis=0)
            all_labels = context.all_gather(tf.reshape(identity_labels, [-1]), axis=0)
            losses = batch_hard_triplet_loss(all_labels, all_embeddings)
            start = context.replica_id_in_sync_group * local_num
            return losses[start : start + local_num]
    return batch_hard_triplet_loss(identity_labels, embeddings)
