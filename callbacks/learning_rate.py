"""The learning-rate schedule of FlipReID (DESIGN.md section 5), set at the start of each epoch."""

import math

import tensorflow as tf

LEARNING_RATE_MODES = ("constant", "linear", "cosine", "warmup", "default")


def learning_rate_scheduler(
    epoch_index: int,
    epoch_num: int,
    learning_rate_mode: str,
    learning_rate_start: float,
    learning_rate_end: float,
    learning_rate_base: float,
    learning_rate_warmup_epochs: int,
    learning_rate_steady_epochs: int,
    learning_rate_drop_factor: float,
    learning_rate_lower_bound: float,
) -> float:
    """The learning rate of epoch `epoch_index` (from 0) of a phase of `epoch_num` epochs.

    constant: start (= end); linear: start to end; cosine: half a cosine from start down to end;
    warmup: linear from start to end over the warm-up epochs, then end; default: linear from
    lower_bound to base over the warm-up epochs, then base / drop_factor ** k after k steady
    periods (drop factor 0: the factor that brings base to lower_bound by the last epoch).
    Never below learning_rate_lower_bound.
    """
    last_index = max(1, epoch_num - 1)
    warmup_last_index = max(1, learning_rate_warmup_epochs - 1)
    if learning_rate_mode == "constant":
        if learning_rate_start != learning_rate_end:
            raise ValueError(
                "learning_rate_mode constant needs learning_rate_start == "
                f"learning_rate_end; got {learning_rate_start} and {learning_rate_end}."
            )
        learning_rate = learning_rate_start
    elif learning_rate_mode == "linear":
        learning_rate = learning_rate_start + (learning_rate_end - learning_rate_start) * min(
            1.0, epoch_index / last_index
        )
    elif learning_rate_mode == "cosine":
        if learning_rate_start <= learning_rate_end:
            raise ValueError(
                "learning_rate_mode cosine needs learning_rate_start > "
                f"learning_rate_end; got {learning_rate_start} and {learning_rate_end}."
            )
        learning_rate = (learning_rate_start - learning_rate_end) / 2 * math.cos(
            math.pi * min(1.0, epoch_index / last_index)
        ) + (learning_rate_start + learning_rate_end) / 2
    elif learning_rate_mode == "warmup":
        if epoch_index < learning_rate_warmup_epochs:
            learning_rate = learning_rate_start + (learning_rate_end - learning_rate_start) * (
                epoch_index / warmup_last_index
            )
        else:
            learning_rate = learning_rate_end
    elif learning_rate_mode == "default":
        if epoch_index < learning_rate_warmup_epochs:
            learning_rate = (
                learning_rate_lower_bound
                + (learning_rate_base - learning_rate_lower_bound) * epoch_index / warmup_last_index
            )
        else:
            drop_factor = learning_rate_drop_factor
            if drop_factor == 0:
                drop_num = (
                    epoch_num - 1 - learning_rate_warmup_epochs
                ) // learning_rate_steady_epochs
                drop_factor = (
                    (learning_rate_base / learning_rate_lower_bound) ** (1 / drop_num)
                    if drop_num > 0
                    else 1.0
                )
            steady_period = (
                epoch_index - learning_rate_warmup_epochs
            ) // learning_rate_steady_epochs
            learning_rate = learning_rate_base / drop_factor**steady_period
    else:
        raise ValueError(
            f"Unknown learning_rate_mode {learning_rate_mode!r}; expected one of "
            f"{LEARNING_RATE_MODES}."
        )
    return max(learning_rate, learning_rate_lower_bound)


class LearningRateSetter(tf.keras.callbacks.Callback):
    """Sets the optimizer's learning rate from the schedule and logs it as "learning_rate"."""

    def __init__(self, schedule_arguments: dict):
        super().__init__()
        self.schedule_arguments = schedule_arguments
        self.epoch_num = 1  # of the current phase; set before each fit
        self.learning_rate = None

    def on_epoch_begin(self, epoch, logs=None):
        self.learning_rate = learning_rate_scheduler(
            epoch, self.epoch_num, **self.schedule_arguments
        )
        tf.keras.backend.set_value(self.model.optimizer.learning_rate, self.learning_rate)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self.learning_rate
