"""What happens between epochs: schedule, evaluation, logging, best-model checkpoint."""

import legacy_keras  # noqa: F401, I001  (Keras 2 must be selected before TensorFlow is imported)

from .checkpoint import BestModelCheckpoint
from .evaluator import EvaluationSettings, Evaluator
from .learning_rate import LEARNING_RATE_MODES, LearningRateSettings, LearningRateSetter
from .phases import Phase, TrainingPhases
from .progress import EpochPrinter, GeMPowerLogger, HistoryLogger

__all__ = [
    "LEARNING_RATE_MODES",
    "BestModelCheckpoint",
    "EpochPrinter",
    "EvaluationSettings",
    "Evaluator",
    "GeMPowerLogger",
    "HistoryLogger",
    "LearningRateSettings",
    "LearningRateSetter",
    "Phase",
    "TrainingPhases",
]
