"""Using a trained model without training code: the "same person?" thresholds, and (export.py)
ONNX models ranked without TensorFlow. Imports no TensorFlow."""

from evaluation.run_results import RATE_LABELS

from .same_person import (
    DESCRIPTION_KEY,
    SamePersonThresholds,
    ThresholdError,
    best_same_person_thresholds,
    thresholds_of_run_folder,
)

__all__ = [
    "DESCRIPTION_KEY",
    "RATE_LABELS",
    "SamePersonThresholds",
    "ThresholdError",
    "best_same_person_thresholds",
    "thresholds_of_run_folder",
]
