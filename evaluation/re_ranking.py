"""k-reciprocal re-ranking (Zhong, Zheng, Cao and Li, CVPR 2017, arXiv 1701.08398).

Over all N = query_num + gallery_num images, with d the input distance squared and divided by
its row maximum:
  1. R(i, k): the k-reciprocal neighbours of i, the j among i's k + 1 nearest whose own k + 1
     nearest include i.
  2. The expanded set R*(i): R(i, k1) united with every R(c, round(k1 / 2)), c in R(i, k1), that
     shares more than two thirds of its members with R(i, k1).
  3. V(i, j) = exp(-d(i, j)) on R*(i), normalised to sum 1; local query expansion replaces
     V(i) by the mean of V over i's k2 nearest neighbours.
  4. Jaccard distance J(q, g) = 1 - m / (2 - m), m = sum_j min(V(q, j), V(g, j)).
  5. Result: (1 - lambda) J(q, g) + lambda d(q, g), for queries q and gallery items g.
Neighbours are ordered by distance, ties by position. `re_ranking` works on the three distance
matrices, like the public implementation; `re_ranking_from_features` never holds an N x N
matrix: neighbours come from a blockwise pass over the upper triangle, V is sparse and the
Jaccard distances are computed for the query rows only.

Which neighbours a row has is a discrete choice: where two distances differ by less than the
rounding of a float32 matrix product, the choice would follow the BLAS kernels of the machine,
and one changed neighbour moves the row's Jaccard distances by up to about 1 / k1. So
`re_ranking_from_features` chooses them as an exact float64 computation does: the float32
pass keeps a margin of candidates, their distances are recomputed in float64, and a row whose
choice the float32 error bound cannot vouch for is searched again in float64 (exact_neighbours).
"""

import numpy as np
from scipy import sparse

from .distances import DEFAULT_CHUNK_BYTES, distance_block, prepare

NO_NEIGHBOUR = -1
FLOAT32_UNIT_ROUNDOFF = 2.0**-24


def re_ranking(
    q_g_dist: np.ndarray,
    q_q_dist: np.ndarray,
    g_g_dist: np.ndarray,
    *,
    k1: int = 20,
    k2: int = 6,
    lambda_value: float = 0.3,
) -> np.ndarray:
    """Re-ranked (query_num, gallery_num) float32 distances from the three distance matrices."""
    query_num = len(q_q_dist)
    original = np.block(
        [[np.asarray(q_q_dist), np.asarray(q_g_dist)], [np.asarray(q_g_dist).T, g_g_dist]]
    ).astype(np.float32)
    original = np.square(original, out=original)
    # Divide each column by its maximum and transpose: row i is scaled by max of column i.
    normalized = np.ascontiguousarray((original / original.max(axis=0)).T)
    del original
    initial_rank = np.concatenate(
        [
            smallest_keys_to_indices(block_smallest_keys(block, 0, k1 + 1))
            for block in np.array_split(normalized, max(1, len(normalized) // 1024))
        ]
    )

    def pair_distances(rows, columns):
        return normalized[rows, columns]

    weights = expanded_neighbour_weights(initial_rank, k1, pair_distances)
    weights = local_query_expansion(weights, initial_rank, k2)
    jaccard = jaccard_distances(
        weights, np.arange(query_num), np.arange(query_num, len(normalized))
    )
    return combine(jaccard, normalized[:query_num, query_num:], lambda_value)


def re_ranking_from_features(
    query_features: np.ndarray,
    gallery_features: np.ndarray,
    *,
    k1: int = 20,
    k2: int = 6,
    lambda_value: float = 0.3,
    metric: str = "cosine",
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> np.ndarray:
    """Re-ranked (query_num, gallery_num) float32 distances, computed from features.

    Equals re_ranking on float64 distance matrices of `metric` (up to float32 rounding of
    the values; the neighbours are chosen by float64 distances), with memory O(N (k1 + chunk))
    beside the returned matrix instead of several N x N matrices.
    """
    query_num = len(query_features)
    given = np.concatenate([query_features, gallery_features])
    features = prepare(given, metric)
    result = np.empty((query_num, len(features) - query_num), dtype=np.float32)
    k = k1 + 1
    candidate_keys, row_maxima = nearest_candidates(
        features,
        k=min(2 * k, len(features)),
        metric=metric,
        chunk_bytes=chunk_bytes,
        query_gallery=result,
    )
    initial_rank = exact_neighbours(given, candidate_keys, k=k, metric=metric)

    def pair_distances(rows, columns):  # V's weights: values, float32 is accurate enough
        return paired_squared_distances(features, rows, columns, metric) / row_maxima[rows]

    weights = expanded_neighbour_weights(initial_rank, k1, pair_distances)
    weights = local_query_expansion(weights, initial_rank, k2)
    gallery_positions = np.arange(query_num, len(features))
    step = 1024
    for start in range(0, query_num, step):
        rows = np.arange(start, min(start + step, query_num))
        jaccard = jaccard_distances(weights, rows, gallery_positions)
        result[rows] = combine(jaccard, result[rows] / row_maxima[rows, None], lambda_value)
    return result


def combine(jaccard: np.ndarray, original: np.ndarray, lambda_value: float) -> np.ndarray:
    return (jaccard * np.float32(1 - lambda_value) + original * np.float32(lambda_value)).astype(
        np.float32
    )


def sortable_keys(values: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """uint64 keys ordering non-negative float32 values by (value, column).

    Callers pass squared distances, which are never negative; for those the IEEE bit pattern
    read as an unsigned integer has the order of the values.
    """
    values = np.asarray(values, dtype=np.float32) + np.float32(0)  # -0.0 becomes +0.0
    return (values.view(np.uint32).astype(np.uint64) << np.uint64(32)) | columns.astype(np.uint64)


def block_smallest_keys(block: np.ndarray, column_start: int, k: int) -> np.ndarray:
    """Sorted keys of the k smallest entries of each row of a block, ties broken by column.

    A float argpartition finds k candidates; keys are built for those only, except in rows with
    a tie at the cut, which are keyed in full so that the lower column wins exactly.
    """
    if block.shape[1] <= k:
        columns = np.broadcast_to(np.arange(block.shape[1]) + column_start, block.shape)
        return np.sort(sortable_keys(block, columns), axis=1)
    candidates = np.argpartition(block, k - 1, axis=1)[:, :k]
    candidate_values = np.take_along_axis(block, candidates, axis=1)
    keys = sortable_keys(candidate_values, candidates + column_start)
    cut_values = candidate_values.max(axis=1)
    tied_rows = np.flatnonzero((block <= cut_values[:, None]).sum(axis=1) > k)
    if len(tied_rows):
        columns = np.broadcast_to(
            np.arange(block.shape[1]) + column_start, (len(tied_rows), block.shape[1])
        )
        keys[tied_rows] = smallest_keys(sortable_keys(block[tied_rows], columns), k)
    return np.sort(keys, axis=1)


def smallest_keys(keys: np.ndarray, k: int, axis: int = 1) -> np.ndarray:
    """The k smallest keys along axis, sorted; for axis 0 the result is transposed to rows."""
    keys = keys if axis == 1 else keys.T
    if keys.shape[1] > k:
        keys = np.partition(keys, k - 1, axis=1)[:, :k]
    return np.sort(keys, axis=1)


def smallest_keys_to_indices(keys: np.ndarray) -> np.ndarray:
    return (keys & np.uint64(0xFFFFFFFF)).astype(np.int64)


def nearest_candidates(
    features: np.ndarray, *, k: int, metric: str, chunk_bytes: int, query_gallery: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Keys (see sortable_keys) of each row's k nearest by float32 distance, itself included,
    and each row's largest squared distance, from one pass over the blocks of the upper
    triangle. The squared query x gallery distances met on the way are written into
    query_gallery."""
    count, query_num = len(features), len(query_gallery)
    step = max(k, int(np.sqrt(chunk_bytes / 8)))
    best = np.full((count, k), np.iinfo(np.uint64).max, dtype=np.uint64)
    row_maxima = np.zeros(count, dtype=np.float32)
    for row_start in range(0, count, step):
        row_stop = min(row_start + step, count)
        for column_start in range(row_start, count, step):
            column_stop = min(column_start + step, count)
            squared = np.square(
                distance_block(
                    features[row_start:row_stop], features[column_start:column_stop], metric
                )
            )
            rows, columns = slice(row_start, row_stop), slice(column_start, column_stop)
            np.maximum(row_maxima[rows], squared.max(axis=1), out=row_maxima[rows])
            best[rows] = merge_smallest(best[rows], squared, column_start, k)
            if column_start != row_start:  # the mirrored block serves the column rows
                np.maximum(row_maxima[columns], squared.max(axis=0), out=row_maxima[columns])
                best[columns] = merge_smallest(best[columns], squared.T, row_start, k)
            if row_start < query_num and column_stop > query_num:
                first_gallery = max(column_start, query_num)
                query_gallery[
                    row_start : min(row_stop, query_num),
                    first_gallery - query_num : column_stop - query_num,
                ] = squared[: min(row_stop, query_num) - row_start, first_gallery - column_start :]
    return best, row_maxima


def merge_smallest(current: np.ndarray, block: np.ndarray, column_start: int, k: int):
    candidates = np.concatenate([current, block_smallest_keys(block, column_start, k)], axis=1)
    return smallest_keys(candidates, k)


def keys_to_values(keys: np.ndarray) -> np.ndarray:
    return (keys >> np.uint64(32)).astype(np.uint32).view(np.float32)


def exact_neighbours(
    given: np.ndarray, candidate_keys: np.ndarray, *, k: int, metric: str
) -> np.ndarray:
    """(N, k) positions of each row's k nearest by float64 distance, ties by position.

    candidate_keys hold each row's k' >= k nearest by float32 distance. Their distances are
    recomputed in float64 and ordered. The float32 distances are off by at most
    float32_error_bound, so a point left out can only belong among the k nearest if the k'-th
    candidate's float32 distance is within that bound of the k-th float64 distance; such rows
    are searched again over all points in float64.
    """
    count = len(given)
    exact = ExactDistances(given, metric)
    columns = smallest_keys_to_indices(candidate_keys)
    values = exact.squared(np.arange(count), columns)
    order = np.lexsort((columns, values), axis=1)[:, :k]
    neighbours = np.take_along_axis(columns, order, axis=1)
    if columns.shape[1] == count:  # every point was a candidate
        return neighbours
    kth_values = np.take_along_axis(values, order[:, -1:], axis=1)[:, 0]
    cut_values = keys_to_values(candidate_keys[:, -1]).astype(np.float64)
    error_bound = float32_error_bound(cut_values, exact.norms, given.shape[1], metric)
    doubtful = np.flatnonzero(cut_values - error_bound <= kth_values)
    for row in doubtful:
        neighbours[row] = exact.row_neighbours(row, k)
    return neighbours


def float32_error_bound(
    squared: np.ndarray, norms: np.ndarray, dimension: int, metric: str
) -> np.ndarray:
    """A bound on how far distance_block's squared float32 distances (of prepared features)
    can be from the exact ones, for each row at the given squared distance (norms: the
    features' norms as given).

    A dot product of n terms is off by at most about n u times the sum of |a_i b_i| in any
    summation order (Higham, Accuracy and Stability of Numerical Algorithms, 3.1), with u the
    unit roundoff; normalising in float32 adds as much again for cosine. Generous constants:
    the bound only decides which rows are searched again in float64.
    """
    u = FLOAT32_UNIT_ROUNDOFF
    if metric == "cosine":
        distance_error = (2 * dimension + 16) * u  # unit vectors: sum |a_i b_i| <= 1
        distances = np.sqrt(squared)
        return distance_error * (2 * distances + distance_error) + 4 * u * squared
    return (dimension + 8) * u * np.square(norms + norms.max()) + 4 * u * squared


class ExactDistances:
    """float64 squared distances between the features as given (cosine: normalised in
    float64), each pair by the same computation, so equal features give equal distances."""

    PAIRS_PER_CHUNK = 2**9  # 8 MB of float64 at 2,048-d: fast while it fits a cache

    def __init__(self, given: np.ndarray, metric: str):
        self.given, self.metric = given, metric
        self.norms = np.concatenate(
            [
                np.linalg.norm(given[start : start + 4096].astype(np.float64), axis=1)
                for start in range(0, len(given), 4096)
            ]
        )

    def squared(self, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """(len(rows), m) distances from given[rows[i]] to given[columns[i, j]]."""
        result = np.empty(columns.shape)
        step = max(1, self.PAIRS_PER_CHUNK // columns.shape[1])
        for start in range(0, len(rows), step):
            part = slice(start, start + step)
            a = self.given[rows[part]].astype(np.float64)
            b = self.given[columns[part]].astype(np.float64)
            if self.metric == "cosine":
                norms = self.norms[rows[part], None] * self.norms[columns[part]]
                cosines = np.einsum("id,ijd->ij", a, b) / np.maximum(norms, 1e-24)
                result[part] = np.square(1 - cosines)
            else:
                differences = np.subtract(b, a[:, None], out=b)
                result[part] = np.einsum("ijd,ijd->ij", differences, differences)
        return result

    def row_neighbours(self, row: int, k: int) -> np.ndarray:
        """Positions of the k nearest of one row over all points, ties by position."""
        count = len(self.given)
        step = self.PAIRS_PER_CHUNK
        values = np.concatenate(
            [
                self.squared(np.array([row]), np.arange(start, min(start + step, count))[None])[0]
                for start in range(0, count, step)
            ]
        )
        return np.lexsort((np.arange(count), values))[:k]


def paired_squared_distances(
    features: np.ndarray, rows: np.ndarray, columns: np.ndarray, metric: str
) -> np.ndarray:
    """Squared distance between features[rows[t]] and features[columns[t]] for each t."""
    result = np.empty(len(rows), dtype=np.float32)
    step = 4096  # rows of gathered features at a time: 64 MB at 4,096-d
    for start in range(0, len(rows), step):
        a, b = features[rows[start : start + step]], features[columns[start : start + step]]
        if metric == "cosine":
            distances = 1 - np.einsum("ij,ij->i", a, b)
        else:
            distances = np.sqrt(np.maximum(np.einsum("ij,ij->i", a - b, a - b), 0))
        result[start : start + step] = np.square(distances)
    return result


def reciprocal_neighbours(initial_rank: np.ndarray, k: int) -> np.ndarray:
    """(N, k + 1) k-reciprocal neighbours of each row, NO_NEIGHBOUR where not reciprocal."""
    forward = initial_rank[:, : k + 1]
    result = np.full_like(forward, NO_NEIGHBOUR)
    for start in range(0, len(forward), 4096):
        rows = np.arange(start, min(start + 4096, len(forward)))
        backward = forward[forward[rows]]  # (rows, k + 1, k + 1)
        is_reciprocal = (backward == rows[:, None, None]).any(axis=2)
        result[rows] = np.where(is_reciprocal, forward[rows], NO_NEIGHBOUR)
    return result


def expanded_neighbour_weights(
    initial_rank: np.ndarray, k1: int, pair_distances
) -> sparse.csr_matrix:
    """Sparse (N, N) V: exp(-d) on the expanded k-reciprocal set of each row, rows summing to 1."""
    count = len(initial_rank)
    neighbours = reciprocal_neighbours(initial_rank, k1)
    half_neighbours = reciprocal_neighbours(initial_rank, int(np.around(k1 / 2.0)))
    half_sizes = (half_neighbours != NO_NEIGHBOUR).sum(axis=1)
    row_parts, column_parts = [], []
    for start in range(0, count, 2048):
        rows = np.arange(start, min(start + 2048, count))
        own = neighbours[rows]  # (rows, k1 + 1)
        candidates = half_neighbours[np.where(own == NO_NEIGHBOUR, 0, own)]  # (rows, k1+1, h+1)
        overlap = (
            (candidates[..., None] == own[:, None, None, :]) & (candidates[..., None] >= 0)
        ).sum(axis=(2, 3))
        candidate_sizes = half_sizes[np.where(own == NO_NEIGHBOUR, 0, own)]
        accepted = (own != NO_NEIGHBOUR) & (overlap > 2.0 / 3.0 * candidate_sizes)
        added = np.where(accepted[..., None], candidates, NO_NEIGHBOUR)
        members = np.sort(np.concatenate([own, added.reshape(len(rows), -1)], axis=1), axis=1)
        keep = members != NO_NEIGHBOUR
        keep[:, 1:] &= members[:, 1:] != members[:, :-1]  # unique per row
        row_index, slot = np.nonzero(keep)
        row_parts.append(rows[row_index])
        column_parts.append(members[row_index, slot])
    row_ids, column_ids = np.concatenate(row_parts), np.concatenate(column_parts)
    weights = np.exp(-pair_distances(row_ids, column_ids)).astype(np.float32)
    row_sums = np.bincount(row_ids, weights=weights, minlength=count).astype(np.float32)
    weights /= row_sums[row_ids]
    return sparse.csr_matrix((weights, (row_ids, column_ids)), shape=(count, count))


def local_query_expansion(
    weights: sparse.csr_matrix, initial_rank: np.ndarray, k2: int
) -> sparse.csr_matrix:
    """Each row of V replaced by the mean of the rows of its k2 nearest neighbours."""
    if k2 == 1:
        return weights
    count = weights.shape[0]
    averaging = sparse.csr_matrix(
        (
            np.full(count * k2, 1.0 / k2, dtype=np.float32),
            (np.repeat(np.arange(count), k2), initial_rank[:, :k2].ravel()),
        ),
        shape=(count, count),
    )
    return (averaging @ weights).tocsr()


def jaccard_distances(
    weights: sparse.csr_matrix, query_rows: np.ndarray, gallery_rows: np.ndarray
) -> np.ndarray:
    """(len(query_rows), len(gallery_rows)) Jaccard distances 1 - m / (2 - m) of rows of V."""
    by_column = weights.tocsc()
    result = np.empty((len(query_rows), len(gallery_rows)), dtype=np.float32)
    for start in range(0, len(query_rows), 256):
        rows = query_rows[start : start + 256]
        overlap = summed_minima(weights[rows].tocoo(), by_column)[:, gallery_rows]
        result[start : start + len(rows)] = 1 - overlap / (2 - overlap)
    return result


def summed_minima(query_weights: sparse.coo_matrix, by_column: sparse.csc_matrix) -> np.ndarray:
    """(query rows, N) sum over columns f of min(V(q, f), V(g, f)), through V's columns."""
    count = by_column.shape[0]
    # For every stored V(q, f), every stored V(g, f) of the same column f: add min of the two.
    starts = by_column.indptr[query_weights.col]
    lengths = by_column.indptr[query_weights.col + 1] - starts
    owner = np.repeat(np.arange(len(query_weights.data)), lengths)
    offsets = np.arange(len(owner)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    entries = starts[owner] + offsets
    minima = np.minimum(query_weights.data[owner], by_column.data[entries])
    flat = query_weights.row[owner].astype(np.int64) * count + by_column.indices[entries]
    overlap = np.bincount(flat, weights=minima, minlength=query_weights.shape[0] * count)
    return overlap.reshape(query_weights.shape[0], count).astype(np.float32)
