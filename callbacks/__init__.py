"""What happens between epochs: schedule, evaluation, logging, best-model checkpoint."""

import legacy_keras  # noqa: F401, I001  (Keras 2 must be selected before TensorFlow is imported)

from .checkpoint import BestModelCheckpoint
from .evaluator import Evaluator
from .learning_rate import LEARNING_RATE_MODES, LearningRateSetter, learning_rate_scheduler
from .progress import EpochPrinter, GeMPowerLogger, HistoryLogger

__all__ = [
    "LEARNING_RATE_MODES",
    "BestModelCheckpoint",
    "EpochPrinter",
    "Evaluator",
    "GeMPowerLogger",
    "HistoryLogger",
    "LearningRateSetter",
    "learning_rate_scheduler",
]
