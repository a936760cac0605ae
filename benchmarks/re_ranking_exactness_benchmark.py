"""How far re_ranking_from_features is from an exact float64 re-ranking, at Market1501 size.

    python benchmarks/re_ranking_exactness_benchmark.py
    OPENBLAS_CORETYPE=Haswell python benchmarks/re_ranking_exactness_benchmark.py

The reference is the public dense algorithm (Zhong et al., CVPR 2017) transcribed here with
NumPy in float64 from the features (normalised in float64): the whole N x N distance matrix, a
dense V. It needs about 10 GB and a few minutes. Which neighbours a row has is a discrete
choice, so a float32 computation that orders two near-equal distances the other way changes
a row's Jaccard distances by up to about 1 / k1; this prints the largest difference and how
many query rows differ by more than 1e-5, with the CPU and the BLAS kernels it ran on.
"""

import argparse
import time

import numpy as np
from common import cpu_description
from evaluation_benchmark import SIZES, clustered_data


def float64_re_ranking(query, gallery, *, k1=20, k2=6, lambda_value=0.3) -> np.ndarray:
    query_num = len(query)
    features = np.concatenate([query, gallery]).astype(np.float64)
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    distances = np.empty((len(features), len(features)))
    for start in range(0, len(features), 4096):  # (OpenBLAS 0.3.31 crashed on one N x N product)
        distances[start : start + 4096] = np.square(1 - features[start : start + 4096] @ features.T)
    distances = (distances / distances.max(axis=0)).T  # row i divided by the max of column i
    count = len(distances)

    def nearest(k):  # the k + 1 nearest of every row, by distance then position
        rank = np.empty((count, k + 1), dtype=np.int64)
        for start in range(0, count, 1024):
            block = distances[start : start + 1024]
            part = np.argpartition(block, k + 1, axis=1)[:, : k + 2]
            values = np.take_along_axis(block, part, axis=1)
            order = np.lexsort((part, values), axis=1)[:, : k + 1]
            rank[start : start + 1024] = np.take_along_axis(part, order, axis=1)
        return rank

    rank, half_k = nearest(k1), int(np.around(k1 / 2))
    half_rank = rank[:, : half_k + 1]

    def reciprocal(i, forward):
        return forward[i][(forward[forward[i]] == i).any(axis=1)]

    weights = np.zeros((count, count))
    for i in range(count):
        own = reciprocal(i, rank)
        expanded = [own]
        for candidate in own:
            theirs = reciprocal(candidate, half_rank)
            if len(np.intersect1d(theirs, own)) > 2 / 3 * len(theirs):
                expanded.append(theirs)
        members = np.unique(np.concatenate(expanded))
        values = np.exp(-distances[i, members])
        weights[i, members] = values / values.sum()
    if k2 != 1:
        weights = np.stack([weights[rank[i, :k2]].mean(axis=0) for i in range(count)])
    result = np.empty((query_num, count - query_num))
    for q in range(query_num):
        columns = np.flatnonzero(weights[q])
        overlap = np.minimum(weights[q, columns], weights[query_num:, columns]).sum(axis=1)
        jaccard = 1 - overlap / (2 - overlap)
        result[q] = (1 - lambda_value) * jaccard + lambda_value * distances[q, query_num:]
    return result


def blas_kernels() -> str:
    import threadpoolctl

    return ", ".join(
        f"{info.get('internal_api')} {info.get('version')} {info.get('architecture', '')}"
        for info in threadpoolctl.threadpool_info()
        if info.get("user_api") == "blas"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="market1501")
    parser.add_argument("--dimension", type=int, default=2048)
    arguments = parser.parse_args()

    import evaluation

    query, gallery, _ = clustered_data(arguments.size, arguments.dimension)
    start = time.perf_counter()
    ours = evaluation.re_ranking_from_features(query, gallery)
    seconds = time.perf_counter() - start
    reference = float64_re_ranking(query, gallery)
    difference = np.abs(ours - reference)
    print(f"CPU: {cpu_description()}; BLAS: {blas_kernels()}")
    print(
        "| size | dimension | re_ranking_from_features (s) | largest difference "
        "| query rows over 1e-5 |"
    )
    print("|---|---|---|---|---|")
    print(
        f"| {arguments.size} | {arguments.dimension} | {seconds:.1f} "
        f"| {difference.max():.2e} | {int((difference.max(axis=1) > 1e-5).sum())} |"
    )


if __name__ == "__main__":
    main()
