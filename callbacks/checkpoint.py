"""Keep the best model by the test mAP entry the evaluator actually logs."""

import tensorflow as tf

from applications import save_weights_atomically


class BestModelCheckpoint(tf.keras.callbacks.Callback):
    """Saves the training model's weights whenever `monitor` (e.g. test_mAP, or
    test_re_ranking_mAP with re-ranking) improves; written atomically."""

    def __init__(self, file_path: str, *, monitor: str, history: list[dict] = ()):
        """history: the records of earlier epochs, for a resumed run (the best so far is their
        largest `monitor`)."""
        super().__init__()
        self.file_path, self.monitor = file_path, monitor
        earlier = [record[self.monitor] for record in history if self.monitor in record]
        self.best = max([float("-inf"), *(value for value in earlier if value == value)])

    def on_epoch_end(self, epoch, logs=None):
        value = logs.get(self.monitor)
        if value is None or value <= self.best:
            return
        previous, self.best = self.best, value
        save_weights_atomically(self.model, self.file_path)
        improvement = "" if previous == float("-inf") else f" (was {previous:.4f})"
        print(
            f"{self.monitor} {value:.4f}{improvement}: weights saved to {self.file_path}",
            flush=True,
        )
