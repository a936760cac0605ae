"""The learning-rate schedule of each phase: its flags, and the rate they give at each epoch."""

import math
from dataclasses import dataclass

from .checks import (
    SettingsError,
    require_at_least,
    require_one_of,
    require_positive,
)

LEARNING_RATE_MODES = ("constant", "linear", "cosine", "warmup", "default", "warmup_cosine")


@dataclass(frozen=True)
class LearningRateSettings:
    """The schedule of one phase; field names are the command-line flags, defaults the 2021
    release's (resnet50).

    constant: start (= end); linear: start to end; cosine: half a cosine from start down to end;
    warmup: linear from start to end over the warm-up epochs, then end; default: linear from
    lower_bound to base over the warm-up epochs, then base / drop_factor ** k after k steady
    periods (drop factor 0: the factor that brings base to lower_bound by the last epoch);
    warmup_cosine: linear from start towards base over the warm-up epochs, then the half cosine
    from base at epoch 0 to end at epoch N that it interrupts (timm's CosineLRScheduler, which
    TransReID and CLIP-ReID use). Never below learning_rate_lower_bound.
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
        # A rate at or below zero would silently train at the lower bound (or not at all).
        require_positive(self, "learning_rate_start", "learning_rate_end", "learning_rate_base")
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
        if self.learning_rate_mode == "warmup_cosine" and (
            self.learning_rate_base <= self.learning_rate_end
        ):
            raise SettingsError(
                "learning_rate_mode warmup_cosine needs learning_rate_base > learning_rate_end; "
                f"got {self.learning_rate_base} and {self.learning_rate_end}."
            )

    def check_epoch_num(self, epoch_num: int) -> None:
        """Raise SettingsError when the schedule cannot be computed for a whole-model phase of
        epoch_num epochs: a derived drop factor divides by epoch_num - 2 * warm-up epochs."""
        if self.learning_rate_mode != "default" or self.learning_rate_drop_factor != 0:
            return
        if epoch_num - 2 * self.learning_rate_warmup_epochs <= 0:
            raise SettingsError(
                "--learning_rate_drop_factor 0 derives the factor from --epoch_num - 2 * "
                f"--learning_rate_warmup_epochs, which is {epoch_num} - 2 * "
                f"{self.learning_rate_warmup_epochs} here; it must be above 0. Give a drop factor "
                "(e.g. --learning_rate_drop_factor 10), more epochs or fewer warm-up epochs."
            )

    def learning_rate(self, epoch_index: int, epoch_num: int) -> float:
        """The learning rate of epoch `epoch_index` (from 0) of a phase, as the 2021 release
        computes it: N = epoch_num is --epoch_num in both phases (the frozen phase runs the first
        epochs of the whole-model phase's schedule), and nothing is clamped, so an index past
        N - 1 continues the formula. Where the 2021 code would divide by zero or by a negative
        count (N or W below 2), the divisor is 1.
        """
        start, end = self.learning_rate_start, self.learning_rate_end
        warmup_epochs = self.learning_rate_warmup_epochs
        lower_bound = self.learning_rate_lower_bound
        progress = epoch_index / max(1, epoch_num - 1)
        if self.learning_rate_mode == "constant":
            learning_rate = start
        elif self.learning_rate_mode == "linear":
            learning_rate = (end - start) * progress + start
        elif self.learning_rate_mode == "cosine":
            learning_rate = (start - end) / 2 * math.cos(math.pi * progress) + (start + end) / 2
        elif self.learning_rate_mode == "warmup":
            learning_rate = (end - start) / max(1, warmup_epochs - 1) * epoch_index + start
            learning_rate = min(learning_rate, end)
        elif self.learning_rate_mode == "warmup_cosine":
            base = self.learning_rate_base
            if epoch_index < warmup_epochs:
                learning_rate = start + (base - start) * epoch_index / warmup_epochs
            else:
                progress = epoch_index / max(1, epoch_num)
                learning_rate = end + (base - end) * 0.5 * (1 + math.cos(math.pi * progress))
        elif epoch_index < warmup_epochs:  # default
            learning_rate = (self.learning_rate_base - lower_bound) / max(
                1, warmup_epochs - 1
            ) * epoch_index + lower_bound
        else:
            steady_period = int((epoch_index - warmup_epochs) / self.learning_rate_steady_epochs)
            learning_rate = self.learning_rate_base / self.drop_factor(epoch_num) ** steady_period
        return max(learning_rate, lower_bound)

    def drop_factor(self, epoch_num: int) -> float:
        """learning_rate_drop_factor, or when it is 0 the 2021 release's derived factor,
        exp(steady / (N - 2 W) * ln(base / lower_bound))."""
        if self.learning_rate_drop_factor != 0:
            return self.learning_rate_drop_factor
        return math.exp(
            self.learning_rate_steady_epochs
            / (epoch_num - 2 * self.learning_rate_warmup_epochs)
            * math.log(self.learning_rate_base / self.learning_rate_lower_bound)
        )
