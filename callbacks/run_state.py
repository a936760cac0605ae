"""Everything a run needs to continue, saved with TensorFlow's checkpointing (tf.train.Checkpoint
and CheckpointManager, the last two kept) at the end of every epoch and when the run is asked to
stop in the middle of one.

A checkpoint holds the training model's variables with its optimizer (moments and step count),
and the progress: epochs and steps done, the history of every finished epoch and, for a save in
the middle of an epoch, the running sums of the epoch's loss metrics. The batches are a function
of (seed, step), so these are all it takes for a resumed run to repeat an uninterrupted one.
"""

import json
import os
import signal
from dataclasses import dataclass, field

import tensorflow as tf

CHECKPOINT_FOLDER_NAME = "checkpoints"
KEPT_CHECKPOINT_NUM = 2  # a crash during a save loses at most one epoch


@dataclass
class Progress:
    epoch: int = 0  # epochs finished, over both phases
    step: int = 0  # steps finished of epoch `epoch` (only a save on request leaves it above 0)
    history: list[dict] = field(default_factory=list)  # one record per finished epoch
    metric_sums: dict[str, list[float]] = field(default_factory=dict)  # of the unfinished epoch

    def global_step(self, steps_per_epoch: int) -> int:
        return self.epoch * steps_per_epoch + self.step


class RunState:
    """The checkpoints of one run, under output_folder_path/checkpoints.

    resume_folder_path: where to read the checkpoint to continue from, when it is not the
    output folder (a worker other than the chief reads the chief's and writes elsewhere).
    """

    def __init__(self, output_folder_path: str, *, resume_folder_path: str | None = None):
        self.folder_path = os.path.join(output_folder_path, CHECKPOINT_FOLDER_NAME)
        self.resume_folder_path = os.path.join(
            resume_folder_path or output_folder_path, CHECKPOINT_FOLDER_NAME
        )
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.history = tf.Variable("[]", trainable=False)
        self.metric_sums = tf.Variable("{}", trainable=False)
        self.progress = tf.train.Checkpoint(
            epoch=self.epoch, step=self.step, history=self.history, metric_sums=self.metric_sums
        )

    @property
    def latest_checkpoint_path(self) -> str | None:
        """The checkpoint to continue from."""
        return tf.train.latest_checkpoint(self.resume_folder_path)

    def read_progress(self) -> Progress | None:
        """The progress of the latest checkpoint, or None when there is none."""
        if self.latest_checkpoint_path is None:
            return None
        tf.train.Checkpoint(progress=self.progress).read(
            self.latest_checkpoint_path
        ).expect_partial()
        return Progress(
            epoch=int(self.epoch.numpy()),
            step=int(self.step.numpy()),
            history=json.loads(self.history.numpy().decode()),
            metric_sums=json.loads(self.metric_sums.numpy().decode()),
        )

    def save(self, training_model: tf.keras.Model, progress: Progress, steps_per_epoch: int) -> str:
        """Write a checkpoint numbered by the global step; returns its path."""
        self.epoch.assign(progress.epoch)
        self.step.assign(progress.step)
        self.history.assign(json.dumps(progress.history))
        self.metric_sums.assign(json.dumps(progress.metric_sums))
        manager = tf.train.CheckpointManager(
            self.checkpoint(training_model), self.folder_path, max_to_keep=KEPT_CHECKPOINT_NUM
        )
        return manager.save(checkpoint_number=progress.global_step(steps_per_epoch))

    def restore(self, training_model: tf.keras.Model) -> None:
        """Load the latest checkpoint into the model and its optimizer (already built)."""
        status = self.checkpoint(training_model).read(self.latest_checkpoint_path)
        status.assert_existing_objects_matched().expect_partial()  # only the file's save count

    def checkpoint(self, training_model: tf.keras.Model) -> tf.train.Checkpoint:
        # The compiled model tracks its optimizer, so both are saved and restored together.
        return tf.train.Checkpoint(model=training_model, progress=self.progress)


def metric_sums(model: tf.keras.Model) -> dict[str, list[float]]:
    """The running sums (total, count) behind each of the model's epoch metrics."""
    return {
        metric.name: [float(variable.numpy()) for variable in metric.variables]
        for metric in model.metrics
    }


class StopRequest:
    """Set by a SIGTERM or Ctrl-C; the run saves and stops at the end of the current step."""

    def __init__(self):
        self.signal_number: int | None = None

    def __call__(self, signal_number, frame) -> None:
        if self.signal_number is not None and signal_number == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        self.signal_number = signal_number


class RunInterrupted(Exception):
    """The run saved a checkpoint and stopped on request; exit with 128 + the signal number."""

    def __init__(self, signal_number: int, message: str):
        super().__init__(message)
        self.signal_number = signal_number


class RunStateSaver(tf.keras.callbacks.Callback):
    """Saves the run's state at the end of every epoch (put it last, after the callbacks that
    add to the logs), and in the middle of an epoch when a stop is requested, then stops."""

    def __init__(
        self,
        run_state: RunState,
        *,
        progress: Progress,
        history_records: list[dict],
        steps_per_epoch: int,
        stop_request: StopRequest,
        resume_command: str,
    ):
        """history_records: the list the HistoryLogger keeps (it records each epoch first)."""
        super().__init__()
        self.run_state, self.progress = run_state, progress
        self.history_records = history_records
        self.steps_per_epoch, self.stop_request = steps_per_epoch, stop_request
        self.resume_command = resume_command
        self.restored_sums = None

    def on_epoch_begin(self, epoch, logs=None):
        # A fit that finishes an interrupted epoch runs only its remaining steps (see
        # training.train); Keras has just reset the metrics, which get their sums back after the
        # first step, when every metric exists.
        if self.progress.step and self.progress.metric_sums:
            self.restored_sums = self.progress.metric_sums

    def on_train_batch_end(self, batch, logs=None):
        if self.restored_sums is not None:
            for metric in self.model.metrics:
                for variable, saved in zip(
                    metric.variables, self.restored_sums[metric.name], strict=True
                ):
                    variable.assign_add(saved)
            self.restored_sums = None
        if self.stop_request.signal_number is not None:
            first_step = self.steps_per_epoch - self.params["steps"]  # of a finishing fit
            self.progress.step = first_step + batch + 1
            self.progress.history = list(self.history_records)
            self.progress.metric_sums = metric_sums(self.model)
            self.stop(f"after step {self.progress.step} of epoch {self.progress.epoch + 1}")

    def on_epoch_end(self, epoch, logs=None):
        self.progress.epoch, self.progress.step = epoch + 1, 0
        self.progress.history = list(self.history_records)
        self.progress.metric_sums = {}
        path = self.run_state.save(self.model, self.progress, self.steps_per_epoch)
        if self.stop_request.signal_number is not None:
            self.stop(f"after epoch {epoch + 1}", path)

    def stop(self, where: str, path: str | None = None) -> None:
        path = path or self.run_state.save(self.model, self.progress, self.steps_per_epoch)
        signal_name = signal.Signals(self.stop_request.signal_number).name
        raise RunInterrupted(
            self.stop_request.signal_number,
            f"Stopped on {signal_name} {where}; everything needed to continue is saved in "
            f"{path}. To continue, run the same command again:\n  {self.resume_command}",
        )
