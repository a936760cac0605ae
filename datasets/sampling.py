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


def check_enough_identities(
    identity_labels: np.ndarray,
    settings: SamplingSettings,
    *,
    dataset_of_rows: np.ndarray | None = None,
    dataset_names: tuple[str, ...] = (),
) -> None:
    """Raise TooFewIdentitiesError, with the numbers, when no P x K batch can be formed (with
    dataset_of_rows: from each dataset alone, as --one_dataset_per_batch draws them)."""
    identity_labels = np.asarray(identity_labels)
    if dataset_of_rows is not None:
        for index in np.unique(dataset_of_rows):
            rows = np.asarray(dataset_of_rows) == index
            usable, too_small = identities_with_enough_images(
                identity_labels[rows], settings.image_num_per_identity
            )
            if len(usable) < settings.identity_num_per_batch:
                name = dataset_names[index] if index < len(dataset_names) else f"dataset {index}"
                raise TooFewIdentitiesError(
                    f"--one_dataset_per_batch draws each batch's {settings.identity_num_per_batch} "
                    f"identities (identity_num_per_batch) from one dataset, with "
                    f"{settings.image_num_per_identity} images each (image_num_per_identity), "
                    f"but only {len(usable)} of the {len(usable) + len(too_small)} identities of "
                    f"{name} have that many images. Lower --identity_num_per_batch or "
                    "--image_num_per_identity, leave that dataset out, or leave out "
                    "--one_dataset_per_batch."
                )
    usable, too_small = identities_with_enough_images(
        identity_labels, settings.image_num_per_identity
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
    identity_labels: np.ndarray,
    settings: SamplingSettings,
    *,
    seed: int = 0,
    dataset_of_rows: np.ndarray | None = None,
) -> Iterator[np.ndarray]:
    """Endless (P * K,) arrays of row indices, identities consecutive.

    Each identity's images are shuffled into chunks of K (leftovers wait for the next round);
    chunks of P different identities make a batch. Identities with fewer than K images are
    never drawn. Raises TooFewIdentitiesError at once when fewer than P identities qualify.
    With dataset_of_rows (each row's training dataset; an identity's rows share one), each
    batch first draws a dataset, with probability in proportion to its usable identities (so
    each identity is drawn as often as without it), then its P identities from that dataset.
    """
    identity_labels = np.asarray(identity_labels)
    check_enough_identities(identity_labels, settings, dataset_of_rows=dataset_of_rows)
    image_num_per_identity = settings.image_num_per_identity
    usable, _ = identities_with_enough_images(identity_labels, image_num_per_identity)
    rng = np.random.default_rng(seed)
    rows_by_identity = {label: np.flatnonzero(identity_labels == label) for label in usable}
    pending_chunks: dict = {label: [] for label in usable}
    pools = [usable]  # the identities a batch draws from, per dataset
    if dataset_of_rows is not None:
        dataset_of_rows = np.asarray(dataset_of_rows)
        dataset_of_usable = np.array([dataset_of_rows[rows_by_identity[i][0]] for i in usable])
        pools = [usable[dataset_of_usable == d] for d in np.unique(dataset_of_usable)]
    pool_weights = np.array([len(pool) for pool in pools]) / len(usable)
    while True:
        pool = pools[0] if len(pools) == 1 else pools[rng.choice(len(pools), p=pool_weights)]
        chosen = rng.choice(pool, size=settings.identity_num_per_batch, replace=False)
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
