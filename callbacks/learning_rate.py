"""The learning-rate schedule of FlipReID (docs/method.md), set at the start of each epoch."""

import math
from dataclasses import dataclass

import tensorflow as tf

from settings_checks import SettingsError, require_at_least, require_one_of

from .phases import TrainingPhases

LEARNING_RATE_MODES = ("constant", "linear", "cosine", "warmup", "default")


@dataclass(frozen=True)
class LearningRateSettings:
    """The schedule of one phase; field names are the command-line flags, defaults the 2021
    release's (resnet50).

    constant: start (= end); linear: start to end; cosine: half a cosine from start down to end;
    warmup: linear from start to end over the warm-up epochs, then end; default: linear from
    lower_bound to base over the warm-up epochs, then base / drop_factor ** k after k steady
    periods (drop factor 0: the factor that brings base to lower_bound by the last epoch).
    Never below learning_rate_lower_bound.
    """

    learning_rate_mode: str = "default"
    learning_rate_start: float = 2e-4
    learning_rate_end: float = 2e-4
    learning_rate_base: float = 2e-4
    learning_rate_warmup_epochs: int = 10
    learning_rate_steady_epochs: int = 30
    learning_rate_drop_factor: float = 10
    learning_rate_lower_bound: float = 2e-6

    def __post_init__(self):
        require_one_of(self, "learning_rate_mode", LEARNING_RATE_MODES)
        require_at_least(
            self,
            learning_rate_warmup_epochs=0,
            learning_rate_steady_epochs=1,
            learning_rate_drop_factor=0,
            learning_rate_lower_bound=0,
        )
        if self.learning_rate_mode == "constant" and (
            self.learning_rate_start != self.learning_rate_end
        ):
            raise SettingsError(
                "learning_rate_mode constant needs learning_rate_start == "
                f"learning_rate_end; got {self.learning_rate_start} and {self.learning_rate_end}."
            )
        if self.learning_rate_mode == "cosine" and (
            self.learning_rate_start <= self.learning_rate_end
        ):
            raise SettingsError(
                "learning_rate_mode cosine needs learning_rate_start > "
                f"learning_rate_end; got {self.learning_rate_start} and {self.learning_rate_end}."
            )

    def learning_rate(self, epoch_index: int, epoch_num: int) -> float:
        """The learning rate of epoch `epoch_index` (from 0) of a phase of `epoch_num` epochs."""
        start, end = self.learning_rate_start, self.learning_rate_end
        warmup_epochs = self.learning_rate_warmup_epochs
        lower_bound = self.learning_rate_lower_bound
        progress = min(1.0, epoch_index / max(1, epoch_num - 1))
        if self.learning_rate_mode == "constant":
            learning_rate = start
        elif self.learning_rate_mode == "linear":
            learning_rate = start + (end - start) * progress
        elif self.learning_rate_mode == "cosine":
            learning_rate = (start - end) / 2 * math.cos(math.pi * progress) + (start + end) / 2
        elif self.learning_rate_mode == "warmup":
            if epoch_index < warmup_epochs:
                learning_rate = start + (end - start) * (epoch_index / max(1, warmup_epochs - 1))
            else:
                learning_rate = end
        elif epoch_index < warmup_epochs:  # default
            learning_rate = lower_bound + (
                self.learning_rate_base - lower_bound
            ) * epoch_index / max(1, warmup_epochs - 1)
        else:
            steady_period = (epoch_index - warmup_epochs) // self.learning_rate_steady_epochs
            learning_rate = self.learning_rate_base / self.drop_factor(epoch_num) ** steady_period
        return max(learning_rate, lower_bound)

    def drop_factor(self, epoch_num: int) -> float:
        """learning_rate_drop_factor, or when it is 0 the factor that brings base down to
        lower_bound at the phase's last epoch."""
        if self.learning_rate_drop_factor != 0:
            return self.learning_rate_drop_factor
        drop_num = (
            epoch_num - 1 - self.learning_rate_warmup_epochs
        ) // self.learning_rate_steady_epochs
        if drop_num <= 0:
            return 1.0
        return (self.learning_rate_base / self.learning_rate_lower_bound) ** (1 / drop_num)


class LearningRateSetter(tf.keras.callbacks.Callback):
    """Sets the optimizer's learning rate from the schedule, restarted at each phase, and logs
    it as "learning_rate"."""

    def __init__(self, settings: LearningRateSettings, phases: TrainingPhases):
        super().__init__()
        self.settings, self.phases = settings, phases
        self.learning_rate = None

    def on_epoch_begin(self, epoch, logs=None):
        phase = self.phases.at(epoch)
        self.learning_rate = self.settings.learning_rate(epoch - phase.first_epoch, phase.epoch_num)
        tf.keras.backend.set_value(self.model.optimizer.learning_rate, self.learning_rate)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self.learning_rate
