"""The learning-rate schedule of FlipReID (docs/method.md), set at the start of each epoch."""

import keras

from settings import LearningRateSettings, TrainingPhases


class LearningRateSetter(keras.callbacks.Callback):
    """Sets the optimizer's learning rate from the schedule, restarted at each phase and
    computed with the whole-model phase's epoch count in both (as the 2021 release's one
    LearningRateScheduler does), and logs it as "learning_rate"."""

    def __init__(self, settings: LearningRateSettings, phases: TrainingPhases):
        super().__init__()
        self.settings, self.phases = settings, phases
        self.learning_rate = None

    def on_epoch_begin(self, epoch, logs=None):
        phase = self.phases.at(epoch)
        self.learning_rate = self.settings.learning_rate(
            epoch - phase.first_epoch, self.phases.schedule_epoch_num
        )
        self.model.optimizer.learning_rate.assign(self.learning_rate)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self.learning_rate
