"""Numbers from features: CMC, mAP, mINP, verification figures, distances, re-ranking and query
expansion. Imports no TensorFlow."""

from .distances import compute_distance_matrix, iterate_distance_chunks
from .evaluate import (
    EvaluationResults,
    evaluate_features,
    format_results_table,
    metrics_to_logs,
    rate_label,
)
from .metrics import RankingMetrics, compute_CMC_mAP, compute_ranking_metrics, ranked_gallery
from .query_expansion import expand_queries
from .re_ranking import re_ranking, re_ranking_from_features
from .verification import FALSE_POSITIVE_RATES, VerificationAccumulator, VerificationMetrics

__all__ = [
    "EvaluationResults",
    "FALSE_POSITIVE_RATES",
    "VerificationAccumulator",
    "VerificationMetrics",
    "RankingMetrics",
    "compute_CMC_mAP",
    "compute_distance_matrix",
    "compute_ranking_metrics",
    "evaluate_features",
    "expand_queries",
    "format_results_table",
    "iterate_distance_chunks",
    "metrics_to_logs",
    "ranked_gallery",
    "re_ranking",
    "rate_label",
    "re_ranking_from_features",
]
