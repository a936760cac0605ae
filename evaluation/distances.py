"""Cosine and Euclidean distances between feature sets, in float32 and in row chunks."""

from collections.abc import Iterator

import numpy as np

METRICS = ("cosine", "euclidean")
DEFAULT_CHUNK_BYTES = 256 * 2**20  # one block of distances held at a time


def l2_normalize(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features, dtype=np.float32)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, np.float32(1e-12))


def prepare(features: np.ndarray, metric: str) -> np.ndarray:
    """Features ready for distance_block: L2-normalised for cosine, float32 for euclidean."""
    if metric == "cosine":
        return l2_normalize(features)
    if metric == "euclidean":
        return np.asarray(features, dtype=np.float32)
    raise ValueError(f"Unknown metric {metric!r}; expected one of {METRICS}.")


def distance_block(a: np.ndarray, b: np.ndarray, metric: str) -> np.ndarray:
    """(len(a), len(b)) float32 distances of prepared features (see prepare).

    cosine: 1 - cos(a, b) in [0, 2]; euclidean: ||a - b||, from the expansion
    |a|^2 + |b|^2 - 2 a.b clipped at 0 against rounding.
    """
    products = a @ b.T
    if metric == "cosine":
        return np.subtract(np.float32(1), products, out=products)
    squared = np.einsum("ij,ij->i", a, a)[:, None] + np.einsum("ij,ij->i", b, b)[None, :]
    squared -= 2 * products
    return np.sqrt(np.maximum(squared, 0, out=squared), out=squared)


def rows_per_chunk(column_num: int, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> int:
    return max(1, chunk_bytes // (4 * max(1, column_num)))


def iterate_distance_chunks(
    a: np.ndarray, b: np.ndarray, metric: str = "cosine", chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (first row, block of distances) covering all rows of a against all of b."""
    return iterate_prepared_chunks(prepare(a, metric), prepare(b, metric), metric, chunk_bytes)


def iterate_prepared_chunks(
    a: np.ndarray, b: np.ndarray, metric: str, chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> Iterator[tuple[int, np.ndarray]]:
    """iterate_distance_chunks of features already prepared (see prepare): for a caller that
    streams the same features several times and prepares them once."""
    step = rows_per_chunk(len(b), chunk_bytes)
    for start in range(0, len(a), step):
        yield start, distance_block(a[start : start + step], b, metric)


def compute_distance_matrix(a: np.ndarray, b: np.ndarray, metric: str = "cosine") -> np.ndarray:
    """The whole (len(a), len(b)) float32 distance matrix, filled a chunk at a time."""
    distmat = np.empty((len(a), len(b)), dtype=np.float32)
    for start, block in iterate_distance_chunks(a, b, metric):
        distmat[start : start + len(block)] = block
    return distmat
