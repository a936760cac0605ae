"""What happens between epochs (schedule, evaluation, history, best weights, checkpoints,
TensorBoard) and within them (progress, divergence)."""

import tensorflow_setup  # noqa: F401, I001  (oneDNN and a quiet start, before TensorFlow is imported)

from .checkpoint import BestModelCheckpoint
from .evaluator import Evaluator
from settings import EvaluationSettings
from .learning_rate import LearningRateSetter
from settings import LEARNING_RATE_MODES, LearningRateSettings
from settings import Phase, TrainingPhases
from .progress import (
    EpochPrinter,
    EpochTimer,
    GeMPowerLogger,
    HistoryLogger,
    HistoryWriter,
    TimingWriter,
)
from .run_state import (
    CheckpointError,
    CheckpointWriteError,
    Progress,
    ResumePoint,
    RunInterrupted,
    RunState,
    RunStateSaver,
    StopOnRequest,
    StopRequest,
)
from .tensorboard import TensorBoardLogger
from .within_epoch import StepProgress, StopOnNonFiniteLoss, TrainingDivergedError

__all__ = [
    "LEARNING_RATE_MODES",
    "BestModelCheckpoint",
    "CheckpointError",
    "CheckpointWriteError",
    "EpochPrinter",
    "EpochTimer",
    "EvaluationSettings",
    "Evaluator",
    "GeMPowerLogger",
    "HistoryLogger",
    "HistoryWriter",
    "LearningRateSettings",
    "LearningRateSetter",
    "Phase",
    "Progress",
    "ResumePoint",
    "RunInterrupted",
    "RunState",
    "RunStateSaver",
    "StepProgress",
    "StopOnRequest",
    "StopOnNonFiniteLoss",
    "StopRequest",
    "TensorBoardLogger",
    "TimingWriter",
    "TrainingDivergedError",
    "TrainingPhases",
]
