"""P x K batches: P identities, K images each (Hermans et al. 2017), for the triplet loss."""

from collections.abc import Iterator

import numpy as np

from settings import SamplingSettings


class TooFewIdentitiesError(ValueError):
    """Fewer than P identities have K images, so no P x K batch can be formed."""


def identities_with_enough_images(identity_labels: np.ndarray, image_num_per_identity: int):
    """(labels that have at least K images, labels that do not)."""
    labels, counts = np.unique(identity_labels, return_counts=True)
    return labels[counts >= image_num_per_identity], labels[counts < image_num_per_identity]


def check_enough_identities(identity_labels: np.ndarray, settings: SamplingSettings) -> None:
    """Raise TooFewIdentitiesError, with the numbers, when no P x K batch can be formed."""
    usable, too_small = identities_with_enough_images(
        np.asarray(identity_labels), settings.image_num_per_identity
    )
    if len(usable) < settings.identity_num_per_batch:
        raise TooFewIdentitiesError(
            f"A batch needs {settings.identity_num_per_batch} identities "
            f"(identity_num_per_batch) with {settings.image_num_per_identity} images each "
            f"(image_num_per_identity), but only {len(usable)} of {len(usable) + len(too_small)} "
            "training identities have that many images. Lower --identity_num_per_batch or "
            "--image_num_per_identity, or use a larger training set."
        )


def iterate_identity_batches(
    identity_labels: np.ndarray, settings: SamplingSettings, *, seed: int = 0
) -> Iterator[np.ndarray]:
    """Endless (P * K,) arrays of row indices, identities consecutive.

    Each identity's images are shuffled into chunks of K (leftovers wait for the next round);
    chunks of P different identities make a batch. Identities with fewer than K images are
    never drawn. Raises TooFewIdentitiesError at once when fewer than P identities qualify.
    """
    identity_labels = np.asarray(identity_labels)
    check_enough_identities(identity_labels, settings)
    image_num_per_identity = settings.image_num_per_identity
    usable, _ = identities_with_enough_images(identity_labels, image_num_per_identity)
    rng = np.random.default_rng(seed)
    rows_by_identity = {label: np.flatnonzero(identity_labels == label) for label in usable}
    pending_chunks: dict = {label: [] for label in usable}
    while True:
        chosen = rng.choice(usable, size=settings.identity_num_per_batch, replace=False)
        batch = []
        for label in chosen:
            if not pending_chunks[label]:
                rows = rng.permutation(rows_by_identity[label])
                chunk_num = len(rows) // image_num_per_identity
                pending_chunks[label] = list(
                    rows[: chunk_num * image_num_per_identity].reshape(
                        chunk_num, image_num_per_identity
                    )
                )
            batch.append(pending_chunks[label].pop())
        yield np.concatenate(batch)
