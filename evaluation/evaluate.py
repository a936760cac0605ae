"""From features to the numbers a ReID paper reports, in bounded memory."""

import numpy as np

from .distances import iterate_distance_chunks
from .metrics import MetricAccumulator, RankingMetrics
from .re_ranking import re_ranking_from_features

REPORTED_RANKS = (1, 5, 10, 20)


def evaluate_features(
    query_features: np.ndarray,
    gallery_features: np.ndarray,
    q_pids: np.ndarray,
    g_pids: np.ndarray,
    q_camids: np.ndarray,
    g_camids: np.ndarray,
    *,
    use_re_ranking: bool = False,
    metric: str = "cosine",
) -> dict[str, RankingMetrics]:
    """{"plain": metrics} and, with use_re_ranking, {"re_ranking": metrics} as well.

    Plain distances are streamed a block of queries at a time into the metric, so no
    query x gallery matrix is held; re-ranking uses re_ranking_from_features, which holds the
    re-ranked matrix but never an N x N one.
    """
    accumulator = MetricAccumulator(g_pids, g_camids, max(REPORTED_RANKS))
    for start, block in iterate_distance_chunks(query_features, gallery_features, metric):
        stop = start + len(block)
        accumulator.add(block, q_pids[start:stop], q_camids[start:stop])
    results = {"plain": accumulator.result()}
    if use_re_ranking:
        re_ranked = re_ranking_from_features(query_features, gallery_features, metric=metric)
        accumulator = MetricAccumulator(g_pids, g_camids, max(REPORTED_RANKS))
        accumulator.add(re_ranked, q_pids, q_camids)
        results["re_ranking"] = accumulator.result()
    return results


def metrics_to_logs(results: dict[str, RankingMetrics], prefix: str = "test") -> dict[str, float]:
    """Flat log entries: test_mAP, test_mINP, test_rank1 ... and test_re_ranking_* likewise."""
    logs = {}
    for kind, metrics in results.items():
        name = prefix if kind == "plain" else f"{prefix}_{kind}"
        logs[f"{name}_mAP"] = metrics.mAP
        logs[f"{name}_mINP"] = metrics.mINP
        for rank in REPORTED_RANKS:
            logs[f"{name}_rank{rank}"] = float(metrics.cmc[rank - 1])
    return logs


def format_results_table(results: dict[str, RankingMetrics]) -> str:
    """A small table in percent: one row per kind of distance."""
    header = f"{'':<12}" + "".join(f"{'rank-' + str(r):>9}" for r in REPORTED_RANKS)
    lines = [header + f"{'mAP':>9}{'mINP':>9}{'queries':>9}"]
    for kind, metrics in results.items():
        row = f"{kind:<12}" + "".join(f"{100 * metrics.cmc[r - 1]:>9.2f}" for r in REPORTED_RANKS)
        lines.append(
            row + f"{100 * metrics.mAP:>9.2f}{100 * metrics.mINP:>9.2f}{metrics.valid_query_num:>9}"
        )
    return "\n".join(lines)
