"""Query expansion: each query's feature replaced, before ranking, by a weighted mean of itself
and its k most similar gallery features.

alpha query expansion (alphaQE; Radenovic, Tolias and Chum, "Fine-tuning CNN Image Retrieval
with No Human Annotation", TPAMI 2019), the variant fast-reid offers as "AQE" with k = 5 and
alpha = 3 by default:

    q' = normalize( q + sum over i = 1..k of  max(0, cos(q, g_i))^alpha * g_i )

with q and the g_i L2-normalised and g_1..g_k the query's k nearest gallery images by cosine
distance (ties by gallery order). The query's own weight is cos(q, q)^alpha = 1, so this is the
weighted mean of the k + 1 features, normalised; alpha = 0 gives average query expansion (AQE,
Chum et al., ICCV 2007). The neighbours are chosen among the gallery images the protocol keeps
for the query: images of its identity seen by its camera are not there for it, in expansion as
in ranking (fast-reid expands over all images). Memory: a block of distance rows at a time.
"""

import numpy as np

from .distances import DEFAULT_CHUNK_BYTES, iterate_prepared_chunks, l2_normalize


def expand_queries(
    query_features: np.ndarray,
    gallery_features: np.ndarray,
    *,
    q_pids: np.ndarray,
    g_pids: np.ndarray,
    q_camids: np.ndarray,
    g_camids: np.ndarray,
    k: int = 5,
    alpha: float = 3.0,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> np.ndarray:
    """(query_num, dimension) float32 expanded, L2-normalised query features (see the module
    docstring); rank them against the gallery with cosine distances or re-ranking."""
    if k < 1:
        raise ValueError(f"Query expansion needs k of at least 1; got {k}.")
    queries, gallery = l2_normalize(query_features), l2_normalize(gallery_features)
    g_pids, g_camids = np.asarray(g_pids), np.asarray(g_camids)
    expanded = np.empty_like(queries)
    blocks = iterate_prepared_chunks(queries, gallery, "cosine", chunk_bytes)
    for start, block in blocks:
        rows = slice(start, start + len(block))
        block[
            (np.asarray(q_pids[rows])[:, None] == g_pids[None, :])
            & (np.asarray(q_camids[rows])[:, None] == g_camids[None, :])
        ] = np.inf  # not in this query's gallery
        for row, distances in enumerate(block):
            neighbours = nearest(distances, k)
            weights = np.maximum(np.float32(1) - distances[neighbours], 0) ** np.float32(alpha)
            expanded[start + row] = queries[start + row] + weights @ gallery[neighbours]
    return l2_normalize(expanded)


def nearest(distances: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k smallest finite distances, closest first, ties by position."""
    k = min(k, int(np.isfinite(distances).sum()))
    if k == 0:
        return np.empty(0, dtype=np.int64)
    kth = np.partition(distances, k - 1)[k - 1]
    candidates = np.flatnonzero(distances <= kth)  # the k nearest and any tied with the k-th
    order = np.lexsort((candidates, distances[candidates]))
    return candidates[order[:k]]
