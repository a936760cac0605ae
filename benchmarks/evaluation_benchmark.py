"""Time and peak memory of CMC/mAP and re-ranking at Market1501 and MSMT17 size.

    python benchmarks/evaluation_benchmark.py                 # every case, writes a table
    python benchmarks/evaluation_benchmark.py --cases cmc_map_market1501,import_evaluation

Each case runs in a fresh process; its peak resident memory (the input data included) comes from
the operating system when the process ends. Features are random and clustered by identity, with
cameras drawn at random, so every code path (camera rule, distractors) is exercised.
"""

import time

from common import measure_cases, parse_case_arguments

SIZES = {  # query images, gallery images, identities, cameras
    "market1501": (3368, 15913, 751, 6),
    "msmt17": (11659, 82161, 3060, 15),
}
CASES = {
    "import_evaluation": "import evaluation (fresh interpreter)",
    "cmc_map_market1501": "CMC/mAP/mINP from a distance matrix, 3,368 x 15,913",
    "cmc_map_msmt17": "CMC/mAP/mINP from a distance matrix, 11,659 x 82,161",
    "re_ranking_features_market1501": "re-ranking from 4,096-d features, 3,368 + 15,913",
    "re_ranking_dense_market1501": "dense re-ranking from 3 distance matrices, 3,368 + 15,913",
    "re_ranking_features_msmt17": "re-ranking from 4,096-d features, 11,659 + 82,161",
    "verification_market1501": "verification figures from 2,048-d features, 3,368 x 15,913",
    "verification_msmt17": "verification figures from 2,048-d features, 11,659 x 82,161",
    "query_expansion_market1501": "query expansion, then CMC/mAP, 2,048-d features, 3,368 x 15,913",
    "query_expansion_msmt17": "query expansion, then CMC/mAP, 2,048-d features, 11,659 x 82,161",
    "top_of_list_market1501": "ranked-list mark (top 10 of each query), 3,368 x 15,913",
    "top_of_list_msmt17": "ranked-list mark (top 10 of each query), 11,659 x 82,161",
}


def clustered_data(size_name: str, dimension: int, seed: int = 0, noise: float = 1.2):
    import numpy as np

    query_num, gallery_num, identity_num, camera_num = SIZES[size_name]
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((identity_num + 1, dimension), dtype=np.float32)
    q_pids = rng.integers(1, identity_num + 1, query_num)
    g_pids = np.concatenate(
        [
            rng.permutation(np.arange(1, identity_num + 1)),
            rng.integers(0, identity_num + 1, gallery_num - identity_num),
        ]
    )
    q_camids = rng.integers(1, camera_num + 1, query_num)
    g_camids = rng.integers(1, camera_num + 1, gallery_num)

    def features(pids):
        return centers[pids] + np.float32(noise) * rng.standard_normal(
            (len(pids), dimension), dtype=np.float32
        )

    labels = dict(q_pids=q_pids, g_pids=g_pids, q_camids=q_camids, g_camids=g_camids)
    return features(q_pids), features(g_pids), labels


def run_case(name: str) -> dict:
    """Run one case in this process; return what was measured (seconds excludes data setup)."""
    if name == "import_evaluation":
        start = time.perf_counter()
        import evaluation  # noqa: F401

        return {"seconds": time.perf_counter() - start}
    import evaluation

    size_name = name.rsplit("_", 1)[1]
    if name.startswith("cmc_map"):
        query_features, gallery_features, labels = clustered_data(size_name, 128)
        distmat = evaluation.compute_distance_matrix(query_features, gallery_features)
        del query_features, gallery_features
        start = time.perf_counter()
        metrics = evaluation.compute_ranking_metrics(distmat, **labels)
        return {
            "seconds": time.perf_counter() - start,
            "mAP": metrics.mAP,
            "rank1": float(metrics.cmc[0]),
        }
    if name.startswith("verification"):
        return verification_case(size_name)
    if name.startswith("query_expansion"):
        return query_expansion_case(size_name)
    if name.startswith("top_of_list"):
        return top_of_list_case(size_name)
    query_features, gallery_features, labels = clustered_data(size_name, 4096)
    if name.startswith("re_ranking_features"):
        start = time.perf_counter()
        distmat = evaluation.re_ranking_from_features(query_features, gallery_features)
    else:
        q_g = evaluation.compute_distance_matrix(query_features, gallery_features)
        q_q = evaluation.compute_distance_matrix(query_features, query_features)
        g_g = evaluation.compute_distance_matrix(gallery_features, gallery_features)
        del query_features, gallery_features
        start = time.perf_counter()
        distmat = evaluation.re_ranking(q_g, q_q, g_g)
    seconds = time.perf_counter() - start
    metrics = evaluation.compute_ranking_metrics(distmat, **labels)
    return {"seconds": seconds, "mAP": metrics.mAP, "rank1": float(metrics.cmc[0])}


def verification_case(size_name: str) -> dict:
    """What the verification figures add to an evaluation: both passes over streamed blocks of
    distances (the matrix products included: the first pass shares them with CMC/mAP in
    evaluate_features, the second computes them again)."""
    import evaluation

    # Noise that leaves same-identity pairs only a little closer than others (at 2,048-d, less
    # would make every figure 100%).
    query_features, gallery_features, labels = clustered_data(size_name, 2048, noise=3.5)
    start = time.perf_counter()
    accumulator = evaluation.VerificationAccumulator(
        labels["q_pids"], labels["g_pids"], labels["g_camids"]
    )
    for collecting in (True, False):
        blocks = evaluation.iterate_distance_chunks(query_features, gallery_features)
        for first, block in blocks:
            rows = slice(first, first + len(block))
            add = accumulator.collect if collecting else accumulator.count
            add(block, labels["q_pids"][rows], labels["q_camids"][rows])
        if collecting:
            accumulator.finish_collecting()
    result = accumulator.result()
    return {
        "seconds": time.perf_counter() - start,
        "tpr": result.true_positive_rates[1],
        "auc": result.roc_auc,
    }


def top_of_list_case(size_name: str) -> dict:
    """What the ranked-list mark adds to an evaluation: each query's top 10 from the streamed
    blocks (the matrix products excluded: evaluate_features shares them with CMC/mAP), then the
    threshold and the precision at each rank."""
    import evaluation
    from evaluation.top_of_list import TopOfListAccumulator

    query_features, gallery_features, labels = clustered_data(size_name, 2048, noise=3.5)
    accumulator = TopOfListAccumulator(labels["g_pids"], labels["g_camids"])
    seconds = 0.0
    for first, block in evaluation.iterate_distance_chunks(query_features, gallery_features):
        rows = slice(first, first + len(block))
        start = time.perf_counter()
        accumulator.add(block, labels["q_pids"][rows], labels["q_camids"][rows])
        seconds += time.perf_counter() - start
    start = time.perf_counter()
    result = accumulator.result()
    seconds += time.perf_counter() - start
    return {"seconds": seconds, "marked_precision": result.calibrated.precision}


def query_expansion_case(size_name: str) -> dict:
    """Expanding every query (streamed blocks of distances, the k nearest of each row), then
    CMC/mAP of the expanded queries streamed as an evaluation does; mAP before and after."""
    import evaluation
    from evaluation.metrics import MetricAccumulator

    query_features, gallery_features, labels = clustered_data(size_name, 2048, noise=3.5)

    def streamed_metrics(queries):
        accumulator = MetricAccumulator(labels["g_pids"], labels["g_camids"])
        for first, block in evaluation.iterate_distance_chunks(queries, gallery_features):
            rows = slice(first, first + len(block))
            accumulator.add(block, labels["q_pids"][rows], labels["q_camids"][rows])
        return accumulator.result()

    plain = streamed_metrics(query_features)
    start = time.perf_counter()
    expanded = evaluation.expand_queries(query_features, gallery_features, **labels)
    metrics = streamed_metrics(expanded)
    return {
        "seconds": time.perf_counter() - start,
        "mAP": metrics.mAP,
        "rank1": float(metrics.cmc[0]),
        "plain_mAP": plain.mAP,
    }


def main() -> None:
    arguments = parse_case_arguments(
        __doc__.splitlines()[0],
        default_cases=",".join(CASES),
        output_file_name="evaluation.md",
        run_case=run_case,
    )
    table = measure_cases(
        __file__,
        arguments.cases.split(","),
        columns=["case", "seconds", "peak memory (GB)", "mAP", "rank-1", "TPR@1e-3", "AUC"],
        describe_case=lambda name: [CASES[name]],
        format_result=lambda result: [
            f"{result['seconds']:.2f}",
            f"{result['peak_gb']:.2f}",
            (f"{100 * result['mAP']:.1f}" if "mAP" in result else "-")
            + (f" (without: {100 * result['plain_mAP']:.1f})" if "plain_mAP" in result else ""),
            f"{100 * result['rank1']:.1f}" if "mAP" in result else "-",
            f"{100 * result['tpr']:.1f}" if "tpr" in result else "-",
            f"{100 * result['auc']:.2f}" if "auc" in result else "-",
        ],
    )
    table.save(arguments.output)


if __name__ == "__main__":
    main()
