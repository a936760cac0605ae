"""What happens between epochs (schedule, evaluation, history, best weights, checkpoints,
TensorBoard) and within them (progress, divergence)."""

import legacy_keras  # noqa: F401, I001  (Keras 2 must be selected before TensorFlow is imported)

from .checkpoint import BestModelCheckpoint
from .evaluator import EvaluationSettings, Evaluator
from .learning_rate import LEARNING_RATE_MODES, LearningRateSettings, LearningRateSetter
from .phases import Phase, TrainingPhases
from .progress import EpochPrinter, EpochTimer, GeMPowerLogger, HistoryLogger
from .run_state import Progress, RunInterrupted, RunState, RunStateSaver, StopRequest
from .tensorboard import TensorBoardLogger
from .within_epoch import StepProgress, StopOnNonFiniteLoss, TrainingDivergedError

__all__ = [
    "LEARNING_RATE_MODES",
    "BestModelCheckpoint",
    "EpochPrinter",
    "EpochTimer",
    "EvaluationSettings",
    "Evaluator",
    "GeMPowerLogger",
    "HistoryLogger",
    "LearningRateSettings",
    "LearningRateSetter",
    "Phase",
    "Progress",
    "RunInterrupted",
    "RunState",
    "RunStateSaver",
    "StepProgress",
    "StopOnNonFiniteLoss",
    "StopRequest",
    "TensorBoardLogger",
    "TrainingDivergedError",
    "TrainingPhases",
]
