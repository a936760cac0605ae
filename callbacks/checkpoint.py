"""Keep the best model by the test mAP entry the evaluator actually logs."""

import keras

from applications import save_weights_atomically


class BestModelCheckpoint(keras.callbacks.Callback):
    """Saves the training model's weights whenever `monitor` (e.g. test_mAP, or
    test_re_ranking_mAP with re-ranking) improves; written atomically."""

    def __init__(self, file_path: str, *, monitor: str, history: list[dict] = ()):
        """history: the records of earlier epochs, for a resumed run (the best so far is their
        largest `monitor`)."""
        super().__init__()
        self.file_path, self.monitor = file_path, monitor
        earlier = [  # the untrained baseline (epoch 0) is no candidate
            record[self.monitor] for record in history if self.monitor in record and record["epoch"]
        ]
        self.best = max([float("-inf"), *(value for value in earlier if value == value)])

    def rewrite_latest(self, progress) -> None:
        """At a resume from the end of an epoch: that epoch's weights (the model's, just
        restored) if it is the best so far, in case the run stopped before writing them."""
        values = [
            record.get(self.monitor, float("-inf"))
            for record in progress.history
            if record["epoch"]
        ]
        values = [value if value == value else float("-inf") for value in values]  # NaN
        if values and values[-1] > float("-inf") and values.index(max(values)) == len(values) - 1:
            save_weights_atomically(self.model, self.file_path)

    def on_epoch_end(self, epoch, logs=None):
        value = logs.get(self.monitor)
        if value is None or value <= self.best:
            return
        previous, self.best = self.best, value
        save_weights_atomically(self.model, self.file_path)
        improvement = "" if previous == float("-inf") else f" (was {100 * previous:.2f}%)"
        print(
            f"{self.monitor} {100 * value:.2f}%{improvement}: weights saved to {self.file_path}",
            flush=True,
        )
