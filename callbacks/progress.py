"""What is kept and printed between epochs: history (pickle, CSV, plots), GeM powers, progress."""

import os
import pickle
import time

import matplotlib

matplotlib.use("Agg")  # files only; works without a display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402

from applications.layers import GeneralizedMeanPooling  # noqa: E402
from atomic_files import atomic_output, write_atomically  # noqa: E402

from .phases import TrainingPhases  # noqa: E402


class GeMPowerLogger(tf.keras.callbacks.Callback):
    """Adds each GeM layer's power p to the logs as "<layer name>_power"."""

    def on_epoch_end(self, epoch, logs=None):
        for layer in self.model.layers:
            if isinstance(layer, GeneralizedMeanPooling):
                logs[f"{layer.name}_power"] = float(layer.power.numpy())


class HistoryLogger(tf.keras.callbacks.Callback):
    """Accumulates the logs of every epoch over both phases into history.pkl and history.csv,
    and draws one PNG per metric under plots/."""

    def __init__(
        self, output_folder_path: str, phases: TrainingPhases, records: list[dict] | None = None
    ):
        """records: the history of earlier epochs, for a resumed run."""
        super().__init__()
        self.output_folder_path, self.phases = output_folder_path, phases
        self.records: list[dict] = list(records or [])

    def on_epoch_end(self, epoch, logs=None):
        values = {name: float(value) for name, value in logs.items()}
        self.records.append({"epoch": epoch + 1, "phase": self.phases.at(epoch).name, **values})
        history = pd.DataFrame(self.records)
        write_atomically(
            os.path.join(self.output_folder_path, "history.csv"), history.to_csv(index=False)
        )
        write_atomically(
            os.path.join(self.output_folder_path, "history.pkl"), pickle.dumps(self.records)
        )
        self.plot(history)

    def plot(self, history: pd.DataFrame) -> None:
        plots_folder_path = os.path.join(self.output_folder_path, "plots")
        for column in history.columns.drop(["epoch", "phase"]):
            values = history[["epoch", column]].dropna()
            if values.empty:
                continue
            figure, axes = plt.subplots(figsize=(6, 4))
            axes.plot(values["epoch"], values[column], marker="o" if len(values) < 30 else None)
            axes.set_xlabel("epoch")
            axes.set_ylabel(column)
            axes.grid(alpha=0.3)
            figure.tight_layout()
            with atomic_output(os.path.join(plots_folder_path, f"{column}.png")) as temporary_path:
                figure.savefig(temporary_path)
            plt.close(figure)


class EpochTimer(tf.keras.callbacks.Callback):
    """Adds the epoch's wall time, its steps and its evaluation, as "epoch_seconds" (put it
    after the evaluation)."""

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs["epoch_seconds"] = time.perf_counter() - self.start


class EpochPrinter(tf.keras.callbacks.Callback):
    """One line per epoch: number, phase, time, learning rate, losses and training metrics."""

    def __init__(self, phases: TrainingPhases):
        super().__init__()
        self.phases = phases

    def on_epoch_end(self, epoch, logs=None):
        phase = self.phases.at(epoch)
        entries = [
            f"{key} {value:.4g}"
            for key, value in logs.items()
            if not key.startswith("test_") and key not in ("learning_rate", "epoch_seconds")
        ]
        print(
            f"Epoch {epoch - phase.first_epoch + 1}/{phase.epoch_num} ({phase.name}, overall "
            f"{epoch + 1}) {logs.get('epoch_seconds', float('nan')):.1f} s, "
            f"learning rate {logs.get('learning_rate', float('nan')):.3g}: " + ", ".join(entries),
            flush=True,
        )
