"""Everything a run needs to continue, saved with TensorFlow's checkpointing (tf.train.Checkpoint
and CheckpointManager, the last two kept) at the end of every epoch and when the run is asked to
stop in the middle of one.

A checkpoint holds the training model's variables with its optimizer (moments and step count),
and the progress: epochs and steps done, the history of every finished epoch (without its wall
time, kept in timing.csv, so that two runs of one command write the same files), for a save in the
middle of an epoch the running sums of the epoch's loss metrics, and what the run trains and
tests on (the dataset's fingerprint). The batches are a function of (seed, step), so these are
all it takes for a resumed run to repeat an uninterrupted one.

A checkpoint that cannot be read back whole (a truncated or altered file, a missing index, a save
that a crash interrupted) is reported, moved into checkpoints/unusable/ (never deleted) and the
previous one is used.
"""

import errno
import json
import math
import os
import re
import shutil
import signal
import zlib
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from atomic_files import WriteError, explain_write_error, write_atomically
from crash_points import crash_point
from settings import KEPT_CHECKPOINT_NUM

from .progress import WALL_TIME_COLUMNS

CHECKPOINT_FOLDER_NAME = "checkpoints"
UNUSABLE_FOLDER_NAME = "unusable"
CHECKPOINT_INDEX_NAME = re.compile(r"^ckpt-(\d+)\.index$")
CHECKPOINT_DATA_NAME = re.compile(r"^ckpt-(\d+)\.data-\d+-of-\d+$")
UNFINISHED_SAVE_NAME = re.compile(r"^ckpt-\d+_temp")  # TensorFlow's folder during a save
# How Keras 2 keyed a model's variables in a checkpoint (Keras 3: "model/_operations/...").
KERAS2_CHECKPOINT_PREFIXES = ("model/layer_with_weights-", "model/layer-")


@dataclass
class Progress:
    epoch: int = 0  # epochs finished, over both phases
    step: int = 0  # steps finished of epoch `epoch` (only a save on request leaves it above 0)
    history: list[dict] = field(default_factory=list)  # one record per finished epoch
    metric_sums: dict[str, list[float]] = field(default_factory=dict)  # of the unfinished epoch

    def global_step(self, steps_per_epoch: int) -> int:
        return self.epoch * steps_per_epoch + self.step


@dataclass(frozen=True)
class ResumePoint:
    """The checkpoint a run continues from, and what it holds."""

    checkpoint_path: str
    progress: Progress
    dataset_fingerprint: dict | None  # None in checkpoints of versions that did not record it


class CheckpointError(Exception):
    """No checkpoint of a run can be restored; the message names them and says what to do."""


class CheckpointWriteError(WriteError):
    """A checkpoint could not be written (no space, no permission); nothing of it was left."""


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
        self.dataset = tf.Variable(b"", trainable=False)
        self.progress = tf.train.Checkpoint(
            epoch=self.epoch,
            step=self.step,
            history=self.history,
            metric_sums=self.metric_sums,
            dataset=self.dataset,
        )

    def find_resume_point(self, *, steps_per_epoch: int, writable: bool = True):
        """The newest checkpoint that reads back whole, as a ResumePoint, or None when the run
        has none (or only saves that a crash interrupted). The others are reported and, when
        `writable`, moved into checkpoints/unusable/.

        Raises CheckpointError when checkpoints exist but none can be restored.
        """
        candidates, state_latest = self.candidates()
        self.refuse_foreign_checkpoints(candidates)
        failures = []
        for path in candidates:
            try:
                if not os.path.exists(path + ".index"):
                    raise FileNotFoundError(f"its {os.path.basename(path)}.index file is missing")
                verify_checkpoint(path)
                progress, fingerprint = self.read_progress(path)
                if progress.step >= steps_per_epoch:
                    raise ValueError(
                        f"it was saved after the last step of epoch {progress.epoch + 1} but "
                        "before that epoch's end (a defect of earlier versions of this program)"
                    )
            except Exception as error:  # TensorFlow raises many kinds for a damaged file
                # CheckpointManager names a checkpoint in its state file once it is written
                # whole: one that is not named there is a save that a crash interrupted.
                unfinished = state_latest is None or number_of(path) > number_of(state_latest)
                failures.append((path, first_line(error), unfinished))
                what = "a save that did not finish" if unfinished else "damaged"
                print(
                    f"Warning: the checkpoint {path} cannot be used ({what}: "
                    f"{first_line(error)}); trying the one before it.",
                    flush=True,
                )
                continue
            if writable and (failures or state_latest != path):
                self.settle_on(path, failures=failures)
            return ResumePoint(path, progress, fingerprint)
        if all(unfinished for _, _, unfinished in failures):
            if failures and writable:
                self.settle_on(None, failures=failures)
            return None  # nothing was ever saved whole: a new run
        listed = "\n  ".join(f"{path}: {reason}" for path, reason, _ in failures)
        raise CheckpointError(
            f"None of the checkpoints of this run can be restored:\n  {listed}\n"
            f"Nothing was deleted. The run cannot be continued from {self.resume_folder_path}; "
            "start it again with --overwrite_output_folder (the checkpoints are removed, the "
            "other results kept), or choose another --output_folder_path."
        )

    def refuse_foreign_checkpoints(self, paths: list[str]) -> None:
        """Raise CheckpointError, saying what to do, when the newest readable checkpoint cannot
        be continued by this program on this backend (nothing is changed):
        - written by a version before the move to Keras 3: its variables are keyed by Keras 2's
          object graph ("model/layer_with_weights-3/..."), which the Keras 3 model does not have;
        - written on another Keras backend (RunState.checkpoint: "model/..." on TensorFlow,
          "keras_variables/..." elsewhere): the run continues on the backend it started on."""
        for path in paths:
            try:
                names = tf.train.load_checkpoint(path).get_variable_to_shape_map()
            except Exception:  # damaged or unfinished: find_resume_point reports it
                continue
            if any(name.startswith(KERAS2_CHECKPOINT_PREFIXES) for name in names):
                raise CheckpointError(self.keras2_message(path))
            started_on = backend_of_checkpoint(names)
            if started_on not in (None, keras.backend.backend()):
                raise CheckpointError(
                    f"The checkpoints of this run ({path} and any others) were written on "
                    f"Keras' {started_on!r} backend, and Keras now runs on "
                    f"{keras.backend.backend()!r}; a run continues on the backend it started on. "
                    f"Nothing was changed. Run the same command with KERAS_BACKEND={started_on}, "
                    "or start this run afresh with --overwrite_output_folder (the old "
                    "checkpoints are removed, the other results kept)."
                )
            return

    def keras2_message(self, path: str) -> str:
        weights_file_path = os.path.join(
            os.path.dirname(self.resume_folder_path), "training_model.h5"
        )
        return (
            f"The checkpoints of this run ({path} and any others) were written by a version "
            "of this program before its move to Keras 3; the Keras 3 network "
            "cannot continue them exactly, so the run cannot be resumed. Nothing was "
            "changed. Its weights still work: evaluate them with --evaluation_only "
            f"--pretrained_model_file_path {weights_file_path}"
            " (and another --output_folder_path), or start from them in a new run with that "
            "flag; or start this run afresh with --overwrite_output_folder (the old "
            'checkpoints are removed, the other results kept). docs/runs.md, "Runs started '
            'before Keras 3".'
        )

    def candidates(self) -> tuple[list[str], str | None]:
        """(checkpoint paths newest first, the state file's latest or None when the state file
        is missing or unreadable): every ckpt-N.index in the folder, whatever the state file
        says, so that a deleted or garbled state file loses nothing."""
        try:
            state = tf.train.get_checkpoint_state(self.resume_folder_path)
            state_latest = state.model_checkpoint_path if state is not None else None
        except Exception:  # a garbled state file: the scan below still finds the checkpoints
            state_latest = None
        if state_latest and not os.path.isabs(state_latest):
            state_latest = os.path.join(self.resume_folder_path, state_latest)
        paths = checkpoint_paths(self.resume_folder_path) + data_without_index(
            self.resume_folder_path
        )
        return sorted(paths, key=number_of, reverse=True), state_latest or None

    def settle_on(self, kept: str | None, *, failures: list) -> None:
        """Move the checkpoints that failed into checkpoints/unusable/ (never deleted), and
        write a state file (CheckpointManager's `checkpoint` file) naming `kept` as the latest,
        so that the next save keeps its bookkeeping right."""
        unusable_folder_path = os.path.join(self.folder_path, UNUSABLE_FOLDER_NAME)
        for path, _, _ in failures:
            prefix = os.path.basename(path) + "."
            os.makedirs(unusable_folder_path, exist_ok=True)
            for name in os.listdir(self.folder_path):
                if name.startswith(prefix):
                    os.replace(
                        os.path.join(self.folder_path, name),
                        os.path.join(unusable_folder_path, name),
                    )
            print(f"The checkpoint {path} was moved into {unusable_folder_path}.", flush=True)
        state_path = os.path.join(self.folder_path, "checkpoint")
        if kept is None:
            if os.path.exists(state_path):
                os.replace(state_path, os.path.join(unusable_folder_path, "checkpoint"))
            return
        kept_paths = [
            path
            for path in checkpoint_paths(self.folder_path)
            if number_of(path) <= number_of(kept)
        ][:KEPT_CHECKPOINT_NUM]
        # CheckpointManager's state file, in its text format: the latest, then all it keeps,
        # with the times it needs to delete them in turn.
        lines = [f'model_checkpoint_path: "{os.path.basename(kept)}"']
        lines += [
            f'all_model_checkpoint_paths: "{os.path.basename(path)}"'
            for path in reversed(kept_paths)
        ]
        lines += [
            f"all_model_checkpoint_timestamps: {os.path.getmtime(path + '.index')}"
            for path in reversed(kept_paths)
        ]
        write_atomically(state_path, "\n".join(lines) + "\n")

    def read_progress(self, checkpoint_path: str) -> tuple[Progress, dict | None]:
        """(progress, dataset fingerprint or None) of one checkpoint."""
        self.dataset.assign(b"")  # absent from checkpoints of earlier versions
        tf.train.Checkpoint(progress=self.progress).read(checkpoint_path).expect_partial()
        fingerprint = self.dataset.numpy()
        progress = Progress(
            epoch=int(self.epoch.numpy()),
            step=int(self.step.numpy()),
            history=json.loads(self.history.numpy().decode()),
            metric_sums=json.loads(self.metric_sums.numpy().decode()),
        )
        return progress, json.loads(zlib.decompress(fingerprint)) if fingerprint else None

    def save(
        self,
        training_model: keras.Model,
        progress: Progress,
        steps_per_epoch: int,
        dataset_fingerprint: dict | None = None,
    ) -> str:
        """Write a checkpoint numbered by the global step; returns its path. dataset_fingerprint:
        what the run trains and tests on (datasets.dataset_fingerprint).

        Raises CheckpointWriteError when the disk is full or the folder not writable; what was
        written of the failed save is removed and the earlier checkpoints stay as they were.
        """
        self.epoch.assign(progress.epoch)
        self.step.assign(progress.step)
        # Without wall times (timing.csv has them): one command's checkpoints repeat byte for
        # byte. Records read from a checkpoint of an earlier version lose theirs here.
        self.history.assign(
            json.dumps(
                [
                    {name: value for name, value in record.items() if name not in WALL_TIME_COLUMNS}
                    for record in progress.history
                ]
            )
        )
        self.metric_sums.assign(json.dumps(progress.metric_sums))
        self.dataset.assign(
            b""
            if dataset_fingerprint is None
            else zlib.compress(json.dumps(dataset_fingerprint).encode())
        )
        number = progress.global_step(steps_per_epoch)
        crash_point("checkpoint save")
        try:
            manager = tf.train.CheckpointManager(
                self.checkpoint(training_model), self.folder_path, max_to_keep=KEPT_CHECKPOINT_NUM
            )
            path = manager.save(checkpoint_number=number)
        except (tf.errors.OpError, OSError) as error:
            self.remove_unfinished_saves()
            raise self.explain_save_error(
                error, number, size=self.checkpoint_size() or variables_size(training_model)
            ) from error
        crash_point("checkpoint saved")
        return path

    def explain_save_error(self, error: Exception, number: int, *, size: int) -> Exception:
        text = str(error)
        kind = getattr(error, "errno", None)
        if kind is None:  # TensorFlow's errors carry the system's message, not its number
            if "No space left" in text or "Disk quota" in text:
                kind = errno.ENOSPC
            elif "Permission denied" in text:
                kind = errno.EACCES
            elif "Read-only file system" in text:
                kind = errno.EROFS
        explained = explain_write_error(
            OSError(kind, text),
            os.path.join(self.folder_path, f"ckpt-{number}"),
            size=size,
        )
        if explained is None:
            return error
        return CheckpointWriteError(explained.errno, str(explained), explained.filename)

    def checkpoint_size(self) -> int | None:
        """Bytes of the newest checkpoint on disk (what the next one needs), if any."""
        paths = checkpoint_paths(self.resume_folder_path)
        if not paths:
            return None
        prefix = os.path.basename(paths[0]) + "."
        return sum(
            os.path.getsize(os.path.join(self.resume_folder_path, name))
            for name in os.listdir(self.resume_folder_path)
            if name.startswith(prefix)
        )

    def remove_unfinished_saves(self) -> list[str]:
        """Remove the ckpt-N_temp folders that saves interrupted by a crash (or a full disk)
        leave behind; returns their paths."""
        if not os.path.isdir(self.folder_path):
            return []
        removed = []
        for name in os.listdir(self.folder_path):
            if UNFINISHED_SAVE_NAME.match(name):
                shutil.rmtree(os.path.join(self.folder_path, name), ignore_errors=True)
                removed.append(os.path.join(self.folder_path, name))
        return removed

    def prune(self, keep: int) -> tuple[list[str], int]:
        """After a finished run: remove all but the `keep` newest checkpoints (0: all of them;
        the unusable/ folder stays). Returns (the kept checkpoints, the bytes removed)."""
        paths = checkpoint_paths(self.folder_path)
        kept, removed_bytes = paths[:keep], 0
        for path in paths[keep:]:
            prefix = os.path.basename(path) + "."
            for name in os.listdir(self.folder_path):
                if name.startswith(prefix):
                    removed_bytes += os.path.getsize(os.path.join(self.folder_path, name))
                    os.remove(os.path.join(self.folder_path, name))
        state_path = os.path.join(self.folder_path, "checkpoint")
        if kept:
            self.settle_on(kept[0], failures=[])
        elif os.path.exists(state_path):
            os.remove(state_path)
        return kept, removed_bytes

    def restore(self, training_model: keras.Model, checkpoint_path: str) -> None:
        """Load a checkpoint into the model and its optimizer (already built); every variable
        of both must be in it. The progress is read by read_progress."""
        if keras.backend.backend() == "tensorflow":
            status = tf.train.Checkpoint(model=training_model).read(checkpoint_path)
            status.assert_existing_objects_matched().expect_partial()
            return
        variables = model_and_optimizer_variables(training_model)
        copies = [tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False) for v in variables]
        status = tf.train.Checkpoint(keras_variables=copies).read(checkpoint_path)
        status.assert_existing_objects_matched().expect_partial()
        for variable, copy in zip(variables, copies, strict=True):
            variable.assign(copy.numpy())

    def checkpoint(self, training_model: keras.Model) -> tf.train.Checkpoint:
        """What a save writes. On TensorFlow the model itself: the compiled model tracks its
        optimizer, so both are saved and restored together. On other backends Keras' variables
        are not TensorFlow's: TensorFlow copies of their values, in the model's and then the
        optimizer's order, under another key ("keras_variables/N/..."), so that a run is
        continued on the backend it started on (refuse_other_backends)."""
        if keras.backend.backend() == "tensorflow":
            return tf.train.Checkpoint(model=training_model, progress=self.progress)
        copies = [
            tf.Variable(keras.ops.convert_to_numpy(variable), trainable=False)
            for variable in model_and_optimizer_variables(training_model)
        ]
        return tf.train.Checkpoint(keras_variables=copies, progress=self.progress)


def backend_of_checkpoint(names) -> str | None:
    """The Keras backend a checkpoint's variable names come from (RunState.checkpoint), or
    None for a checkpoint without model variables."""
    if any(name.startswith("model/") for name in names):
        return "tensorflow"
    if any(name.startswith("keras_variables/") for name in names):
        return "jax"
    return None


def model_and_optimizer_variables(training_model: keras.Model) -> list[keras.Variable]:
    variables = list(training_model.variables)
    if training_model.optimizer is not None:
        variables += list(training_model.optimizer.variables)
    return variables


def variables_size(training_model: keras.Model) -> int:
    """Bytes of the model's and its optimizer's variables: about a checkpoint's size."""
    variables = model_and_optimizer_variables(training_model)
    return sum(
        math.prod(variable.shape)
        * np.dtype(keras.backend.standardize_dtype(variable.dtype)).itemsize
        for variable in variables
    )


def checkpoint_paths(folder_path: str) -> list[str]:
    """The checkpoints (ckpt-N, from their .index files) in a folder, newest first."""
    if not os.path.isdir(folder_path):
        return []
    numbers = [
        int(found[1])
        for name in os.listdir(folder_path)
        if (found := CHECKPOINT_INDEX_NAME.match(name))
    ]
    return [os.path.join(folder_path, f"ckpt-{number}") for number in sorted(numbers, reverse=True)]


def data_without_index(folder_path: str) -> list[str]:
    """Checkpoints whose data files are there but whose .index file is not (deleted, or a save
    cut short), so that they are reported and moved aside rather than silently overwritten."""
    if not os.path.isdir(folder_path):
        return []
    names = set(os.listdir(folder_path))
    numbers = {int(found[1]) for name in names if (found := CHECKPOINT_DATA_NAME.match(name))}
    return [
        os.path.join(folder_path, f"ckpt-{number}")
        for number in sorted(numbers)
        if f"ckpt-{number}.index" not in names
    ]


def number_of(checkpoint_path: str) -> int:
    return int(checkpoint_path.rsplit("-", 1)[1])


def first_line(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    return f"{type(error).__name__}: {text.splitlines()[0]}"


def verify_checkpoint(checkpoint_path: str) -> None:
    """Read every tensor of a checkpoint back (TensorFlow checks each one's checksum)."""
    reader = tf.train.load_checkpoint(checkpoint_path)
    for name in reader.get_variable_to_shape_map():
        reader.get_tensor(name)


def metric_sums(model: keras.Model) -> dict[str, list[float]]:
    """The running sums (total, count) behind each of the model's epoch metrics."""
    return {
        metric.name: [float(variable.numpy()) for variable in metric.variables]
        for metric in model.metrics
    }


class StopRequest:
    """Set by a SIGTERM or Ctrl-C; the run saves and stops at the end of the current step (or,
    in an epoch's last step, at the end of the epoch)."""

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


class RunStateSaver(keras.callbacks.Callback):
    """Saves the run's state at the end of every epoch (after the callbacks that add to the logs
    and record the epoch, before those that write its results: the checkpoint is durable before
    the results that describe its epoch replace the old ones); StopOnRequest saves in the middle
    of an epoch when a stop is requested."""

    def __init__(
        self,
        run_state: RunState,
        *,
        progress: Progress,
        history_records: list[dict],
        steps_per_epoch: int,
        stop_request: StopRequest,
        dataset_fingerprint: dict | None = None,
    ):
        """history_records: the list the HistoryLogger keeps (it records each epoch first).
        dataset_fingerprint: saved in every checkpoint (datasets.dataset_fingerprint)."""
        super().__init__()
        self.run_state, self.progress = run_state, progress
        self.dataset_fingerprint = dataset_fingerprint
        self.history_records = history_records
        self.steps_per_epoch, self.stop_request = steps_per_epoch, stop_request
        self.restored_sums = None
        self.last_path = None

    def on_epoch_begin(self, epoch, logs=None):
        # A fit that finishes an interrupted epoch runs only its remaining steps (see
        # training.train); Keras has just reset the metrics, which get their sums back after the
        # first step, when every metric exists.
        if self.progress.step and self.progress.metric_sums:
            self.restored_sums = self.progress.metric_sums

    def on_train_batch_begin(self, batch, logs=None):
        crash_point("train step begins")

    def on_train_batch_end(self, batch, logs=None):
        if self.restored_sums is not None:
            for metric in self.model.metrics:
                for variable, saved in zip(
                    metric.variables, self.restored_sums[metric.name], strict=True
                ):
                    variable.assign_add(saved)
            self.restored_sums = None
        crash_point("train step ends")

    def save_in_epoch(self, step: int) -> str:
        """The state after `step` steps of the current epoch, with its running loss sums."""
        self.progress.step = step
        self.progress.history = list(self.history_records)
        self.progress.metric_sums = metric_sums(self.model)
        return self.save()

    def on_epoch_end(self, epoch, logs=None):
        self.progress.epoch, self.progress.step = epoch + 1, 0
        self.progress.history = list(self.history_records)
        self.progress.metric_sums = {}
        self.last_path = self.save()

    def save(self) -> str:
        return self.run_state.save(
            self.model,
            self.progress,
            self.steps_per_epoch,
            dataset_fingerprint=self.dataset_fingerprint,
        )


class StopOnRequest(keras.callbacks.Callback):
    """Put it last, after every callback of a step and of an epoch: after a SIGTERM or Ctrl-C,
    saves the state at the end of the current step (RunStateSaver.save_in_epoch) and stops; in
    an epoch's last step it waits for the epoch's end, whose checkpoint and results the other
    callbacks write, and stops then."""

    def __init__(self, saver: RunStateSaver, *, steps_per_epoch: int, resume_command: str):
        super().__init__()
        self.saver, self.steps_per_epoch = saver, steps_per_epoch
        self.resume_command = resume_command

    def on_train_batch_end(self, batch, logs=None):
        step = self.steps_per_epoch - self.params["steps"] + batch + 1  # of a finishing fit
        if self.saver.stop_request.signal_number is not None and step < self.steps_per_epoch:
            path = self.saver.save_in_epoch(step)
            raise interruption(
                self.saver.stop_request,
                f"after step {step} of epoch {self.saver.progress.epoch + 1}",
                path,
                self.resume_command,
            )

    def on_epoch_end(self, epoch, logs=None):
        crash_point("epoch ends")
        if self.saver.stop_request.signal_number is not None:
            raise interruption(
                self.saver.stop_request,
                f"after epoch {epoch + 1}",
                self.saver.last_path,
                self.resume_command,
            )


def interruption(
    stop_request: StopRequest, where: str, path: str, resume_command: str
) -> RunInterrupted:
    signal_name = signal.Signals(stop_request.signal_number).name
    return RunInterrupted(
        stop_request.signal_number,
        f"Stopped on {signal_name} {where}; everything needed to continue is saved in "
        f"{path}. To continue, run the same command again:\n  {resume_command}",
    )
