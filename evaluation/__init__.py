"""Numbers from features: CMC, mAP, mINP, verification figures, distances, re-ranking, query
expansion, and tracklet features pooled from frames (video datasets). Imports no TensorFlow."""

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
from .tracklets import (
    SampledTracklets,
    TrackletPooler,
    has_tracklets,
    pool_tracklet_features,
    sample_tracklets,
)
from .verification import FALSE_POSITIVE_RATES, VerificationAccumulator, VerificationMetrics

__all__ = [
    "EvaluationResults",
    "FALSE_POSITIVE_RATES",
    "VerificationAccumulator",
    "VerificationMetrics",
    "RankingMetrics",
    "SampledTracklets",
    "TrackletPooler",
    "compute_CMC_mAP",
    "compute_distance_matrix",
    "compute_ranking_metrics",
    "evaluate_features",
    "expand_queries",
    "format_results_table",
    "has_tracklets",
    "iterate_distance_chunks",
    "metrics_to_logs",
    "pool_tracklet_features",
    "ranked_gallery",
    "re_ranking",
    "rate_label",
    "re_ranking_from_features",
    "sample_tracklets",
]
