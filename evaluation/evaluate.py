"""From features to the numbers a ReID paper reports, in bounded memory: the ranking metrics
(plain, re-ranked, query-expanded) and the verification figures (plain distances;
verification.py)."""

from dataclasses import dataclass

import numpy as np

from .distances import iterate_prepared_chunks, prepare
from .metrics import MetricAccumulator, RankingMetrics
from .query_expansion import expand_queries
from .re_ranking import re_ranking_from_features
from .top_of_list import PRECISION_TARGET, TOP_K, TopOfListAccumulator, TopOfListMetrics
from .verification import VerificationAccumulator, VerificationMetrics

REPORTED_RANKS = (1, 5, 10, 20)


@dataclass(frozen=True)
class EvaluationResults:
    # "plain"; with re-ranking "re_ranking"; with query expansion "query_expansion" (and
    # "query_expansion_re_ranking" with both)
    ranking: dict[str, RankingMetrics]
    verification: VerificationMetrics  # of the plain distances
    # the "same person?" mark at the top of the ranked lists (plain distances): calibrated for
    # its precision there, and the precision the verification thresholds have there
    top_of_list: TopOfListMetrics


def evaluate_features(
    query_features: np.ndarray,
    gallery_features: np.ndarray,
    q_pids: np.ndarray,
    g_pids: np.ndarray,
    q_camids: np.ndarray,
    g_camids: np.ndarray,
    *,
    use_re_ranking: bool = False,
    query_expansion: tuple[int, float] | None = None,
    metric: str = "cosine",
    same_person_precision: float = PRECISION_TARGET,
) -> EvaluationResults:
    """The ranking metrics of the plain distances (and of the re-ranked ones with
    use_re_ranking) and the verification figures of the plain distances.

    Plain distances are streamed a block of queries at a time, twice (the verification's AUC
    needs every positive pair's distance before it counts), so no query x gallery matrix is
    held; re-ranking uses re_ranking_from_features, which holds the re-ranked matrix but never
    an N x N one. query_expansion: (k, alpha) to also rank alpha-query-expanded queries
    (query_expansion.py), by cosine distance and, with use_re_ranking, re-ranked.
    same_person_precision: the share of the top-10 results the ranked-list mark marks that
    must be the same person (top_of_list.py).
    """
    queries, gallery = prepare(query_features, metric), prepare(gallery_features, metric)
    labels = dict(q_pids=q_pids, g_pids=g_pids, q_camids=q_camids, g_camids=g_camids)
    accumulator = MetricAccumulator(g_pids, g_camids, max(REPORTED_RANKS))
    verification = VerificationAccumulator(q_pids, g_pids, g_camids)
    top_of_list = TopOfListAccumulator(g_pids, g_camids)
    stream(
        queries,
        gallery,
        consumers=[accumulator.add, verification.collect, top_of_list.add],
        metric=metric,
        labels=labels,
    )
    ranking = {"plain": accumulator.result()}
    verification.finish_collecting()
    stream(queries, gallery, consumers=[verification.count], metric=metric, labels=labels)
    verification_metrics = verification.result()
    top_of_list_metrics = top_of_list.result(
        same_person_precision,
        {
            f"FPR {rate_label(rate)}": threshold
            for rate, threshold in zip(
                verification_metrics.false_positive_rates,
                verification_metrics.thresholds,
                strict=True,
            )
        },
    )
    if query_expansion is not None:
        k, alpha = query_expansion
        expanded = expand_queries(query_features, gallery_features, **labels, k=k, alpha=alpha)
        if metric != "cosine":
            gallery = prepare(gallery_features, "cosine")
        accumulator = MetricAccumulator(g_pids, g_camids, max(REPORTED_RANKS))
        stream(
            prepare(expanded, "cosine"),
            gallery,
            consumers=[accumulator.add],
            metric="cosine",
            labels=labels,
        )
        expanded_ranking = accumulator.result()
    del queries, gallery  # re-ranking prepares its own
    if use_re_ranking:
        ranking["re_ranking"] = re_ranked_metrics(query_features, gallery_features, labels, metric)
    if query_expansion is not None:
        ranking["query_expansion"] = expanded_ranking
        if use_re_ranking:
            ranking["query_expansion_re_ranking"] = re_ranked_metrics(
                expanded, gallery_features, labels, metric
            )
    return EvaluationResults(
        ranking=ranking, verification=verification_metrics, top_of_list=top_of_list_metrics
    )


def stream(queries, gallery, *, consumers: list, metric: str, labels: dict) -> None:
    """Hand each block of distances between prepared features (distances.prepare), with its
    rows' identities and cameras, to every consumer (e.g. MetricAccumulator.add), in order."""
    for start, block in iterate_prepared_chunks(queries, gallery, metric):
        rows = slice(start, start + len(block))
        for consume in consumers:
            consume(block, labels["q_pids"][rows], labels["q_camids"][rows])


def re_ranked_metrics(query_features, gallery_features, labels: dict, metric: str):
    re_ranked = re_ranking_from_features(query_features, gallery_features, metric=metric)
    accumulator = MetricAccumulator(labels["g_pids"], labels["g_camids"], max(REPORTED_RANKS))
    accumulator.add(re_ranked, labels["q_pids"], labels["q_camids"])
    return accumulator.result()


def rate_label(false_positive_rate: float) -> str:
    """1e-3 for 0.001: how the log entries and columns name a false positive rate."""
    mantissa, exponent = f"{false_positive_rate:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


# The log entries' name for the mark calibrated on the top 10 of the ranked lists
# (top_of_list.py): test_mark_top10_threshold (a distance), test_mark_top10_marked (the share
# of the lists' entries it marks), test_mark_top10_precision_rank1 ... rank10.
TOP_OF_LIST = f"mark_top{TOP_K}"


def metrics_to_logs(results: EvaluationResults, prefix: str = "test") -> dict[str, float]:
    """Flat log entries: test_mAP, test_mINP, test_rank1 ... and test_re_ranking_* likewise;
    test_TPR_at_FPR_1e-3, test_threshold_at_FPR_1e-3 (a distance) ... and test_ROC_AUC; the
    calibrated mark's entries (TOP_OF_LIST) and test_top10_precision_at_FPR_1e-3 ... (the
    share of the top-10 results that the threshold at that rate marks which are the same
    person)."""
    logs = {}
    for kind, metrics in results.ranking.items():
        name = prefix if kind == "plain" else f"{prefix}_{kind}"
        logs[f"{name}_mAP"] = metrics.mAP
        logs[f"{name}_mINP"] = metrics.mINP
        for rank in REPORTED_RANKS:
            logs[f"{name}_rank{rank}"] = float(metrics.cmc[rank - 1])
    verification = results.verification
    for rate, true_positive_rate, threshold in zip(
        verification.false_positive_rates,
        verification.true_positive_rates,
        verification.thresholds,
        strict=True,
    ):
        logs[f"{prefix}_TPR_at_FPR_{rate_label(rate)}"] = true_positive_rate
        logs[f"{prefix}_threshold_at_FPR_{rate_label(rate)}"] = threshold
    logs[f"{prefix}_ROC_AUC"] = verification.roc_auc
    top = results.top_of_list
    calibrated = top.calibrated
    logs[f"{prefix}_{TOP_OF_LIST}_threshold"] = calibrated.threshold
    logs[f"{prefix}_{TOP_OF_LIST}_precision_target"] = top.precision_target
    logs[f"{prefix}_{TOP_OF_LIST}_marked"] = sum(calibrated.marked_at_ranks) / (
        top.top_k * max(1, top.list_num)
    )
    for rank, precision in enumerate(calibrated.precision_at_ranks, start=1):
        logs[f"{prefix}_{TOP_OF_LIST}_precision_rank{rank}"] = precision
    for rate in verification.false_positive_rates:
        other = top.others[f"FPR {rate_label(rate)}"]
        logs[f"{prefix}_top{top.top_k}_precision_at_FPR_{rate_label(rate)}"] = other.precision
    return logs


def format_results_table(results: EvaluationResults, metric: str = "cosine") -> str:
    """Two small tables: the ranking metrics in percent, one row per kind of distance; the
    verification figures (TPR in percent, thresholds as distances)."""
    width = max([12] + [len(kind) + 1 for kind in results.ranking])
    header = f"{'':<{width}}" + "".join(f"{'rank-' + str(r):>9}" for r in REPORTED_RANKS)
    lines = [header + f"{'mAP':>9}{'mINP':>9}{'queries':>9}"]
    for kind, metrics in results.ranking.items():
        row = f"{kind:<{width}}" + "".join(
            f"{100 * metrics.cmc[r - 1]:>9.2f}" for r in REPORTED_RANKS
        )
        lines.append(
            row + f"{100 * metrics.mAP:>9.2f}{100 * metrics.mINP:>9.2f}{metrics.valid_query_num:>9}"
        )
    verification = results.verification
    lines.append(
        f"Same person? {verification.positive_pair_num:,} same-identity and "
        f"{verification.negative_pair_num:,} other pairs, plain {metric} distances; a pair is "
        "accepted below the threshold"
    )
    rates = verification.false_positive_rates
    lines.append(
        f"{'':<12}" + "".join(f"{'FPR ' + rate_label(r):>11}" for r in rates) + "    ROC AUC"
    )
    lines.append(
        f"{'TPR':<12}"
        + "".join(f"{100 * r:>11.2f}" for r in verification.true_positive_rates)
        + f"{100 * verification.roc_auc:>11.2f}"
    )
    lines.append(f"{'threshold':<12}" + "".join(f"{t:>11.6f}" for t in verification.thresholds))
    top = results.top_of_list
    lines.append(
        f"{'top-' + str(top.top_k) + ' right':<12}"
        + "".join(f"{100 * top.others[f'FPR {rate_label(r)}'].precision:>11.2f}" for r in rates)
        + f"   (of the top-{top.top_k} results a threshold marks, the same person)"
    )
    lines.append(format_calibrated_mark(top))
    return "\n".join(lines)


def format_calibrated_mark(top: TopOfListMetrics) -> str:
    """The mark calibrated on the ranked lists, and its precision at each rank, in percent."""
    calibrated = top.calibrated
    marked = sum(calibrated.marked_at_ranks)
    lines = [
        f"Mark for ranked lists: below {calibrated.threshold:.6f}, at least "
        f"{100 * top.precision_target:.0f}% of the marked top-{top.top_k} results are the same "
        f"person ({marked:,} of {top.top_k * top.list_num:,} results marked); by rank:",
        f"{'rank':<12}" + "".join(f"{rank:>7}" for rank in range(1, top.top_k + 1)),
        f"{'right':<12}"
        + "".join(format_percent(p, width=7, decimals=1) for p in calibrated.precision_at_ranks),
        f"{'marked':<12}" + "".join(f"{n:>7}" for n in calibrated.marked_at_ranks),
    ]
    return "\n".join(lines)


def format_percent(fraction: float, *, width: int, decimals: int = 2) -> str:
    """A fraction in percent, right-aligned; "-" where nothing was measured (NaN)."""
    text = "-" if np.isnan(fraction) else f"{100 * fraction:.{decimals}f}"
    return f"{text:>{width}}"
