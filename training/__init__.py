"""How a run trains: the two phases of FlipReID as Keras fits over one count of epochs, with a
checkpoint after every epoch so that the same command continues an interrupted run exactly.

    training.train(training_model, datasets_from_step=..., settings=TrainingSettings(), ...)

settings.py: TrainingSettings (epochs, steps, phases). loop.py: the training loop, its callbacks,
signals and resumption. devices.py: devices, strategies, mixed precision, kernel choices.
output_folder.py and run_log.py: the run folder and its log.
"""

import tensorflow_setup  # noqa: F401, I001  (oneDNN and a quiet start, before TensorFlow is imported)

from settings import DeviceSettings, TrainingSettings, check_batch_split

from .devices import configure_devices, is_chief
from .devices import describe as describe_devices
from .loop import (
    DatasetChangedError,
    build_callbacks,
    check_same_dataset,
    describe_progress,
    distributed_dataset,
    stop_signals_caught,
    train,
)

__all__ = [
    "build_callbacks",
    "check_batch_split",
    "check_same_dataset",
    "configure_devices",
    "DatasetChangedError",
    "describe_devices",
    "describe_progress",
    "DeviceSettings",
    "distributed_dataset",
    "is_chief",
    "stop_signals_caught",
    "train",
    "TrainingSettings",
]
