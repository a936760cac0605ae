"""Triplet loss with batch-hard mining (Hermans, Beyer and Leibe 2017, arXiv 1703.07737)."""

import tensorflow as tf

METRICS = ("euclidean", "sqeuclidean", "cosine")


def pairwise_distances(embeddings: tf.Tensor, metric: str = "euclidean") -> tf.Tensor:
    """(batch, batch) distances, computed in float32 whatever the input dtype.

    euclidean: sqrt(sum of squares + 1e-12), so the gradient stays finite for equal embeddings;
    sqeuclidean: the sum of squares; cosine: 1 - cosine similarity.
    """
    embeddings = tf.cast(embeddings, tf.float32)
    if metric == "cosine":
        normalized = tf.math.l2_normalize(embeddings, axis=1)
        return 1.0 - tf.matmul(normalized, normalized, transpose_b=True)
    if metric not in METRICS:
        raise ValueError(f"Unknown metric {metric!r}; expected one of {METRICS}.")
    differences = embeddings[:, None, :] - embeddings[None, :, :]
    squared = tf.reduce_sum(tf.square(differences), axis=-1)
    return squared if metric == "sqeuclidean" else tf.sqrt(squared + 1e-12)


def batch_hard_triplet_loss(
    embeddings: tf.Tensor,
    identity_labels: tf.Tensor,
    margin: str | float | None = "soft",
    metric: str = "euclidean",
) -> tf.Tensor:
    """Per-sample batch-hard triplet loss.

    Args:
        embeddings: (batch, dimension), any float dtype.
        identity_labels: (batch,) or (batch, 1) identities (any integer or float dtype).
        margin: "soft" for softplus(d_ap - d_an); a number m for max(d_ap - d_an + m, 0);
            None for d_ap - d_an.
        metric: see pairwise_distances.
    Returns:
        (batch,) float32: for each anchor, the hardest (farthest) positive against the hardest
        (closest) negative. In a degenerate batch without negatives for an anchor, its
        "negative" lies beyond every distance, so its loss is small rather than undefined.
    """
    distances = pairwise_distances(embeddings, metric)
    labels = tf.reshape(identity_labels, [-1])
    same_identity = tf.equal(labels[:, None], labels[None, :])
    hardest_positive = tf.reduce_max(tf.where(same_identity, distances, 0.0), axis=1)
    largest = tf.reduce_max(distances, axis=1, keepdims=True)
    # Positives are pushed above every negative before the minimum, without infinities.
    hardest_negative = tf.reduce_min(
        tf.where(same_identity, distances + largest + 1.0, distances), axis=1
    )
    difference = hardest_positive - hardest_negative
    if margin == "soft":
        return tf.math.softplus(difference)
    if margin is None:
        return difference
    return tf.maximum(difference + float(margin), 0.0)


def global_batch_hard_triplet_loss(identity_labels: tf.Tensor, embeddings: tf.Tensor) -> tf.Tensor:
    """batch_hard_triplet_loss (soft margin, Euclidean) as a Keras loss, (y_true, y_pred), that
    mines over the global batch when training runs on several replicas.

    Each replica gathers the embeddings and labels of all replicas (keeping gradients: the
    gradient of a gathered slice is summed over the replicas that used it) and returns the
    losses of its own anchors, so the losses, and their mean over the replicas that Keras takes,
    are those of one device on the whole batch.

    Args:
        identity_labels: (local batch,) or (local batch, 1).
        embeddings: (local batch, dimension).
    Returns:
        (local batch,) float32.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return batch_hard_triplet_loss(embeddings, identity_labels)
    local_num = tf.shape(embeddings)[0]
    all_embeddings = context.all_gather(embeddings, axis=0)
    all_labels = context.all_gather(tf.reshape(identity_labels, [-1]), axis=0)
    losses = batch_hard_triplet_loss(all_embeddings, all_labels)
    start = context.replica_id_in_sync_group * local_num
    return losses[start : start + local_num]
