"""TensorBoard event files: every history column per epoch, and the training loss every few
steps; a resumed run appends without writing any step twice.

    tensorboard --logdir output/Market1501_resnet50/tensorboard
"""

import glob
import math
import os

import keras
import tensorflow as tf

from .within_epoch import first_step_of_fit

EPOCH_PREFIX = "epoch/"  # epoch/loss, epoch/test_mAP, ... at step = epoch number (from 1)
STEP_LOSS_TAG = "step/loss"  # mean loss of the last steps, at step = global step (from 1)


def last_written_steps(log_folder_path: str) -> dict[str, int]:
    """The largest step written so far for each tag, read back with TensorFlow's own reader."""
    last_steps: dict[str, int] = {}
    for file_path in sorted(glob.glob(os.path.join(log_folder_path, "events.out.tfevents.*"))):
        try:
            for record in tf.data.TFRecordDataset(file_path):
                event = tf.compat.v1.Event.FromString(record.numpy())
                for value in event.summary.value:
                    last_steps[value.tag] = max(last_steps.get(value.tag, 0), event.step)
        except tf.errors.DataLossError:  # the tail of a file cut by a crash
            continue
    return last_steps


class TensorBoardLogger(keras.callbacks.Callback):
    """Put it after the callbacks that add to the logs (evaluation, learning rate, GeM)."""

    def __init__(self, log_folder_path: str, *, steps_per_epoch: int, points_per_epoch: int = 10):
        super().__init__()
        self.steps_per_epoch = steps_per_epoch
        self.step_interval = max(1, math.ceil(steps_per_epoch / points_per_epoch))
        self.written = last_written_steps(log_folder_path)
        self.writer = tf.summary.create_file_writer(log_folder_path)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.first_step = first_step_of_fit(self, self.steps_per_epoch)
        self.last_point = (self.first_step, None)  # (step in the epoch, running mean there)

    def on_train_batch_end(self, batch, logs=None):
        step = self.first_step + batch + 1
        if step % self.step_interval and step != self.steps_per_epoch:
            return
        # Keras' batch logs are running means over the epoch; the mean of the steps since the
        # last point follows from two of them.
        running_mean = float(logs["loss"])
        last_step, last_mean = self.last_point
        if last_mean is None:
            recent_mean = running_mean
        else:
            recent_mean = (step * running_mean - last_step * last_mean) / (step - last_step)
        self.last_point = (step, running_mean)
        self.write(STEP_LOSS_TAG, recent_mean, self.epoch * self.steps_per_epoch + step)

    def on_epoch_end(self, epoch, logs=None):
        for name, value in logs.items():
            self.write(EPOCH_PREFIX + name, float(value), epoch + 1)
        self.writer.flush()

    def rewrite_latest(self, progress) -> None:
        """At a resume from the end of an epoch: every recorded epoch's values (the untrained
        baseline's at step 0) that are not written yet."""
        self.write_records(progress.history)

    def write_records(self, records: list[dict]) -> None:
        for record in records:
            for name, value in record.items():
                if name not in ("epoch", "phase"):
                    self.write(EPOCH_PREFIX + name, float(value), int(record["epoch"]))
        self.writer.flush()

    def on_train_end(self, logs=None):
        self.writer.flush()

    def write(self, tag: str, value: float, step: int) -> None:
        if step <= self.written.get(tag, -1):
            return  # written before an interruption, with the same value
        with self.writer.as_default():
            tf.summary.scalar(tag, value, step=step)
        self.written[tag] = step
