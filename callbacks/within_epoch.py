"""What happens at each step: progress within an epoch, and a clear stop when the loss diverges.

Both count steps within the epoch from Keras' own parameters: a fit that finishes an interrupted
epoch runs only its remaining steps, so its first step is steps_per_epoch - params["steps"].
"""

import math
import os
import sys
import time

import keras
import tensorflow as tf

from progress_lines import format_duration


def first_step_of_fit(callback: keras.callbacks.Callback, steps_per_epoch: int) -> int:
    return steps_per_epoch - callback.params["steps"]


class StepProgress(keras.callbacks.Callback):
    """On a terminal, Keras' progress bar, updated every step (step / steps, time left, running
    loss, images per second); otherwise (log files, CI, cluster jobs) a plain line about every
    10% of the epoch."""

    def __init__(
        self, *, steps_per_epoch: int, images_per_step: int, interactive: bool | None = None
    ):
        super().__init__()
        self.steps_per_epoch, self.images_per_step = steps_per_epoch, images_per_step
        self.interactive = sys.stdout.isatty() if interactive is None else interactive
        self.line_every = max(1, math.ceil(steps_per_epoch / 10))

    def on_train_begin(self, logs=None):
        self.graph_built = False

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.start = epoch, time.perf_counter()
        self.first_step = first_step_of_fit(self, self.steps_per_epoch)
        if not self.graph_built:  # each fit (a phase, a resumed epoch) traces its own step
            print(
                f"  epoch {epoch + 1}: building the training step's graph; its first step "
                "takes longer ...",
                flush=True,
            )
            self.graph_built = True
        if self.interactive:
            self.bar = keras.utils.Progbar(
                self.steps_per_epoch, stateful_metrics=["loss", "images/s"]
            )

    def on_train_batch_end(self, batch, logs=None):
        step = self.first_step + batch + 1
        now = time.perf_counter()
        if batch == 0:  # the first step also builds the graph: rates count from its end on
            self.first_step_end, seconds_per_step = now, now - self.start
        else:
            seconds_per_step = (now - self.first_step_end) / batch
        images_per_second = self.images_per_step / max(seconds_per_step, 1e-9)
        loss = float(logs.get("loss", float("nan")))
        if self.interactive:
            self.bar.update(step, [("loss", loss), ("images/s", round(images_per_second, 1))])
        elif step % self.line_every == 0 and step < self.steps_per_epoch:
            seconds_left = (self.steps_per_epoch - step) * seconds_per_step
            print(
                f"  epoch {self.epoch + 1}, step {step}/{self.steps_per_epoch} "
                f"({100 * step / self.steps_per_epoch:.0f}%): {images_per_second:.1f} images/s, "
                f"{format_duration(seconds_left)} left in the epoch, loss {loss:.4g}",
                flush=True,
            )


class TrainingDivergedError(Exception):
    """A loss became NaN or infinite; the message says where and what to try."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops at the first step whose losses are not finite, before anything is saved from it:
    the best weights and the last checkpoint stay as they were. Put it first."""

    def __init__(
        self, *, steps_per_epoch: int, weights_file_path: str, checkpoint_folder_path: str
    ):
        super().__init__()
        self.steps_per_epoch = steps_per_epoch
        self.weights_file_path, self.checkpoint_folder_path = (
            weights_file_path,
            checkpoint_folder_path,
        )

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.first_step = first_step_of_fit(self, self.steps_per_epoch)

    def on_train_batch_end(self, batch, logs=None):
        bad_terms = [name for name, value in logs.items() if not math.isfinite(float(value))]
        bad_terms.sort(key=lambda name: name != "loss")  # the total first, then Keras' order
        if not bad_terms:
            return
        self.model.stop_training = True
        learning_rate = float(self.model.optimizer.learning_rate.numpy())
        raise TrainingDivergedError(
            f"Training diverged at epoch {self.epoch + 1}, step "
            f"{self.first_step + batch + 1} of {self.steps_per_epoch}: these loss terms are not "
            f"finite (NaN or infinite): {', '.join(bad_terms)}. The learning rate was "
            f"{learning_rate:.3g}; try a lower one (--learning_rate_base, or "
            "--learning_rate_start and --learning_rate_end) in another --output_folder_path (or "
            f"with --overwrite_output_folder). {self.what_is_kept()}"
        )

    def what_is_kept(self) -> str:
        kept = []
        if os.path.isfile(self.weights_file_path):
            kept.append(f"the best weights so far stay in {self.weights_file_path}")
        checkpoint_path = tf.train.latest_checkpoint(self.checkpoint_folder_path)
        if checkpoint_path:
            kept.append(f"the last good checkpoint stays in {checkpoint_path}")
        if not kept:
            return "No epoch had finished, so there was nothing to keep."
        return "Nothing was saved from the diverged step: " + "; ".join(kept) + "."
