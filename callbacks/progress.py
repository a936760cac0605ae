"""What is kept and printed between epochs: history (in memory, then pickle, CSV and plots), GeM
powers, the epoch's time and line."""

import os
import pickle
import sys
import time

import matplotlib

matplotlib.use("Agg")  # files only; works without a display
import keras
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from applications.layers import GeneralizedMeanPooling  # noqa: E402
from atomic_files import atomic_output, write_atomically  # noqa: E402
from settings import TrainingPhases

from .results import TestingSetName, result_rows, write_results  # noqa: E402

# Log entries that measure the machine, not the run: kept out of history.csv and history.pkl.
WALL_TIME_COLUMNS = ("epoch_seconds",)


class GeMPowerLogger(keras.callbacks.Callback):
    """Adds each GeM layer's power p to the logs as "<layer name>_power"."""

    def on_epoch_end(self, epoch, logs=None):
        for layer in self.model.layers:
            if isinstance(layer, GeneralizedMeanPooling):
                logs[f"{layer.name}_power"] = float(layer.power.numpy())


class HistoryLogger(keras.callbacks.Callback):
    """Records the logs of every epoch over both phases, in memory (`records`), for the
    checkpoint and for HistoryWriter; put it after the callbacks that add to the logs."""

    def __init__(self, phases: TrainingPhases, records: list[dict] | None = None):
        """records: the history of earlier epochs, for a resumed run."""
        super().__init__()
        self.phases = phases
        self.records: list[dict] = list(records or [])

    def on_epoch_end(self, epoch, logs=None):
        values = {name: float(value) for name, value in logs.items()}
        self.records.append({"epoch": epoch + 1, "phase": self.phases.at(epoch).name, **values})


class TimingWriter(keras.callbacks.Callback):
    """Writes each epoch's wall time into timing.csv, the only place that keeps it (the
    checkpoint does not, so that one command's checkpoints repeat byte for byte); put it after
    the HistoryLogger and before the checkpoint, so that no checkpointed epoch misses its time."""

    def __init__(self, output_folder_path: str, records: list[dict]):
        """records: the HistoryLogger's list (a resumed run's first records, read from the
        checkpoint, have no wall time: theirs are read from timing.csv)."""
        super().__init__()
        self.timing_path = os.path.join(output_folder_path, "timing.csv")
        self.records = records

    def on_epoch_end(self, epoch, logs=None):
        timed = pd.DataFrame(
            [
                {"epoch": record["epoch"], **{name: record[name] for name in WALL_TIME_COLUMNS}}
                for record in self.records
                if all(name in record for name in WALL_TIME_COLUMNS)
            ]
        )
        if timed.empty:
            return
        try:
            earlier = pd.read_csv(self.timing_path) if os.path.isfile(self.timing_path) else None
            earlier = None if earlier is None else earlier[timed.columns]
        except (OSError, ValueError, KeyError):  # unreadable: the times of this process only
            earlier = None
        if earlier is not None:  # the epochs before a resume (not those redone since)
            recorded = {record["epoch"] for record in self.records}
            earlier = earlier[earlier["epoch"].isin(recorded - set(timed["epoch"]))]
            timed = pd.concat([earlier, timed]).sort_values("epoch")
        write_atomically(self.timing_path, timed.to_csv(index=False))


class HistoryWriter(keras.callbacks.Callback):
    """Writes the recorded history into history.pkl and history.csv (test metrics as
    fractions, their columns named *_fraction), results.csv and results.json (results.py), and
    one PNG per column under plots/ (test metrics in percent, the untrained baseline at epoch 0
    and a line where the whole-model phase starts); put it after the checkpoint, which holds the
    same records."""

    def __init__(
        self,
        output_folder_path: str,
        records: list[dict],
        *,
        testing_sets: list[TestingSetName] = (),
        watched: str = "test_mAP",
        trained_on: list[str] | None = None,
    ):
        """records: the HistoryLogger's list; testing_sets: the test datasets' names and log
        prefixes; watched: the log entry the best model is chosen by; trained_on: the training
        datasets, for results.json."""
        super().__init__()
        self.output_folder_path, self.records = output_folder_path, records
        self.testing_sets, self.watched = list(testing_sets), watched
        self.trained_on = trained_on

    def on_epoch_end(self, epoch, logs=None):
        self.write()

    def rewrite_latest(self, progress) -> None:
        """At a resume: the files of the newest checkpoint's epoch, in case the run stopped
        before it had written them."""
        self.write()

    def write(self) -> None:
        if not self.records:
            return
        history = pd.DataFrame(self.records)
        # Wall times are in timing.csv (TimingWriter): one command's history files repeat byte
        # for byte.
        timed = [column for column in WALL_TIME_COLUMNS if column in history]
        write_atomically(
            os.path.join(self.output_folder_path, "history.csv"),
            history.drop(columns=timed).rename(columns=fraction_column_name).to_csv(index=False),
        )
        # Equal strings as one object: pickle writes a repeated object as a back-reference,
        # so without this a resumed run's records (read back from a checkpoint) and an
        # uninterrupted run's would pickle to different bytes for the same history.
        records = [
            {
                sys.intern(name): sys.intern(value) if isinstance(value, str) else value
                for name, value in record.items()
                if name not in WALL_TIME_COLUMNS
            }
            for record in self.records
        ]
        history_pkl = os.path.join(self.output_folder_path, "history.pkl")
        write_atomically(history_pkl, pickle.dumps(records))
        write_results(
            self.output_folder_path,
            result_rows(self.records, testing_sets=self.testing_sets),
            watched=self.watched,
            trained_on=self.trained_on,
        )
        self.plot(history)

    def plot(self, history: pd.DataFrame) -> None:
        plots_folder_path = os.path.join(self.output_folder_path, "plots")
        phases = history[["epoch", "phase"]].drop_duplicates("phase")
        second_phase = phases[phases["phase"] == "whole model"]["epoch"]
        frozen = (history["phase"] == "frozen backbone").any()
        for column in history.columns.drop(["epoch", "phase"]):
            if "_precision_rank" in column:
                continue  # ten figures of one mark: in results.csv and the printed table
            values = history[["epoch", column]].dropna()
            if values.empty:
                continue
            percent = is_fraction(column)
            figure, axes = plt.subplots(figsize=(6, 4))
            axes.plot(
                values["epoch"],
                values[column] * (100 if percent else 1),
                marker="o" if len(values) < 30 else None,
            )
            if frozen and len(second_phase):
                axes.axvline(second_phase.iloc[0] - 0.5, color="gray", linestyle="--", linewidth=1)
                axes.text(
                    second_phase.iloc[0] - 0.4,
                    0.02,
                    "whole model",
                    transform=axes.get_xaxis_transform(),
                    color="gray",
                    fontsize=8,
                )
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
            axes.set_xlabel(
                "epoch (0: before training)" if (values["epoch"] == 0).any() else "epoch"
            )
            axes.set_ylabel(f"{column} (%)" if percent else column)
            if percent:
                axes.set_ylim(0, 100)
            elif (values[column] >= 0).all():  # a loss: its distance from 0, not a zoom
                axes.set_ylim(0, 1.05 * values[column].max() or 1)
            axes.set_title(f"{column} of {os.path.basename(self.output_folder_path)}")
            axes.grid(alpha=0.3)
            figure.tight_layout()
            with atomic_output(os.path.join(plots_folder_path, f"{column}.png")) as temporary_path:
                figure.savefig(temporary_path)
            plt.close(figure)


def is_fraction(column: str) -> bool:
    """Test metrics are fractions; the "same person?" thresholds among them are distances."""
    is_threshold = "_threshold_at_FPR_" in column or column.endswith("_threshold")
    return column.startswith("test_") and not is_threshold


def fraction_column_name(column: str) -> str:
    """history.csv's name for a log entry: test metrics say that they are fractions."""
    return f"{column}_fraction" if is_fraction(column) else column


class EpochTimer(keras.callbacks.Callback):
    """Adds the epoch's wall time, its steps and its evaluation, as "epoch_seconds" (put it
    after the evaluation)."""

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs["epoch_seconds"] = time.perf_counter() - self.start


class EpochPrinter(keras.callbacks.Callback):
    """One short line per epoch, numbered over both phases as history.csv and the progress lines
    are: time, learning rate, the loss and the flipping loss. Every loss term, metric and GeM
    power of the epoch is in history.csv (and its plots)."""

    def __init__(self, phases: TrainingPhases):
        super().__init__()
        self.phases = phases

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        shown = [f"{name} {logs[name]:.4g}" for name in ("loss", "flipping") if name in logs]
        print(
            f"Epoch {epoch + 1}/{self.phases.epoch_num} ({self.phases.at(epoch).name}): "
            f"{logs.get('epoch_seconds', float('nan')):.1f} s, learning rate "
            f"{logs.get('learning_rate', float('nan')):.3g}, " + ", ".join(shown),
            flush=True,
        )
