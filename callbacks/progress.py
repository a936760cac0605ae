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


class GeMPowerLogger(tf.keras.callbacks.Callback):
    """Adds each GeM layer's power p to the logs as "<layer name>_power"."""

    def on_epoch_end(self, epoch, logs=None):
        for layer in self.model.layers:
            if isinstance(layer, GeneralizedMeanPooling):
                logs[f"{layer.name}_power"] = float(layer.power.numpy())


class HistoryLogger(tf.keras.callbacks.Callback):
    """Accumulates the logs of every epoch over both phases into history.pkl and history.csv,
    and draws one PNG per metric under plots/."""

    def __init__(self, output_folder_path: str):
        super().__init__()
        self.output_folder_path = output_folder_path
        self.records: list[dict] = []
        self.epoch_offset = 0
        self.phase = ""

    def on_epoch_end(self, epoch, logs=None):
        self.records.append({"epoch": self.epoch_offset + epoch + 1, "phase": self.phase, **logs})
        history = pd.DataFrame(self.records)
        write_atomically(
            os.path.join(self.output_folder_path, "history.csv"),
            history.to_csv(index=False).encode(),
        )
        write_atomically(
            os.path.join(self.output_folder_path, "history.pkl"), pickle.dumps(self.records)
        )
        self.plot(history)

    def plot(self, history: pd.DataFrame) -> None:
        plots_folder_path = os.path.join(self.output_folder_path, "plots")
        os.makedirs(plots_folder_path, exist_ok=True)
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
            figure.savefig(os.path.join(plots_folder_path, f"{column}.png"))
            plt.close(figure)


class EpochPrinter(tf.keras.callbacks.Callback):
    """One line per epoch: number, phase, time, learning rate, losses and training metrics."""

    def __init__(self):
        super().__init__()
        self.epoch_offset, self.epoch_num, self.phase = 0, 1, ""

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        entries = [
            f"{key} {value:.4g}"
            for key, value in logs.items()
            if not key.startswith("test_") and key != "learning_rate"
        ]
        print(
            f"Epoch {epoch + 1}/{self.epoch_num} ({self.phase}, overall "
            f"{self.epoch_offset + epoch + 1}) {time.perf_counter() - self.start:.1f} s, "
            f"learning rate {logs.get('learning_rate', float('nan')):.3g}: " + ", ".join(entries),
            flush=True,
        )


def write_atomically(file_path: str, content: bytes) -> None:
    with open(file_path + ".tmp", "wb") as output_file:
        output_file.write(content)
    os.replace(file_path + ".tmp", file_path)
