"""How a run trains: the two phases of FlipReID as Keras fits over one count of epochs.

training.train(training_model, dataset=dataset, settings=TrainingSettings(), ...)
"""

import legacy_keras  # noqa: F401, I001  (Keras 2 must be selected before TensorFlow is imported)

import os
from dataclasses import dataclass

import tensorflow as tf

import applications
import callbacks
from callbacks import EvaluationSettings, LearningRateSettings, TrainingPhases
from settings_checks import SettingsError, require_at_least

__all__ = ["TrainingSettings", "train"]


@dataclass(frozen=True)
class TrainingSettings:
    """How long training runs; field names are the command-line flags."""

    freeze_backbone_for_N_epochs: int = 20
    epoch_num: int = 1000000
    steps_per_epoch: int = 200

    def __post_init__(self):
        require_at_least(self, freeze_backbone_for_N_epochs=0, epoch_num=0, steps_per_epoch=1)
        if self.freeze_backbone_for_N_epochs + self.epoch_num == 0:
            raise SettingsError(
                "--freeze_backbone_for_N_epochs and --epoch_num are both 0: there is nothing to "
                "train. Set one of them above 0, or pass --evaluation_only to evaluate."
            )

    @property
    def phases(self) -> TrainingPhases:
        return TrainingPhases.of(
            freeze_backbone_for_N_epochs=self.freeze_backbone_for_N_epochs,
            epoch_num=self.epoch_num,
        )


def train(
    training_model: tf.keras.Model,
    *,
    dataset: tf.data.Dataset,
    settings: TrainingSettings,
    learning_rate: LearningRateSettings,
    evaluation: EvaluationSettings,
    evaluator: callbacks.Evaluator | None,
    output_folder_path: str,
) -> str:
    """Train both phases; returns the weights file, which holds the weights with the best test
    mAP (or the last weights without a test set), loaded into training_model."""
    phases = settings.phases
    weights_file_path = os.path.join(output_folder_path, "training_model.h5")
    epoch_callbacks = [
        callbacks.LearningRateSetter(learning_rate, phases),
        callbacks.GeMPowerLogger(),
    ]
    if evaluator is not None:
        if evaluation.evaluate_testing_before_training:
            evaluator.evaluate("before training")
        epoch_callbacks += [
            evaluator,
            callbacks.BestModelCheckpoint(weights_file_path, monitor=evaluation.monitor),
        ]
    epoch_callbacks += [
        callbacks.HistoryLogger(output_folder_path, phases),
        callbacks.EpochPrinter(phases),
    ]
    for phase in phases:
        applications.set_backbone_trainable(training_model, phase.backbone_trainable)
        applications.compile_training_model(training_model)
        print(
            f"\nPhase: {phase.name}, {phase.epoch_num} epochs of {settings.steps_per_epoch} steps",
            flush=True,
        )
        training_model.fit(
            dataset,
            initial_epoch=phase.first_epoch,
            epochs=phase.end_epoch,
            steps_per_epoch=settings.steps_per_epoch,
            callbacks=epoch_callbacks,
            verbose=0,
        )
    if evaluator is None:  # no test set: the last weights are the result
        applications.save_weights_atomically(training_model, weights_file_path)
    else:
        applications.load_weights(training_model, weights_file_path)  # the best by test mAP
    return weights_file_path
