"""Wall time is kept in timing.csv only: two saves of the same state a different number of
seconds apart are the same checkpoint files, byte for byte, and a resumed run's timing.csv keeps
the epochs timed before the resume."""

import os

import keras
import pandas as pd

from callbacks import TimingWriter
from callbacks.run_state import Progress, RunState


def small_model() -> keras.Model:
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    return model


def test_two_saves_of_one_state_timed_differently_are_the_same_files(tmp_path):
    model = small_model()
    for name, seconds in (("first", 12.5), ("second", 97.25)):
        history = [{"epoch": 1, "phase": "whole model", "loss": 0.5, "epoch_seconds": seconds}]
        state = RunState(str(tmp_path / name))
        state.save(model, Progress(epoch=1, history=history), steps_per_epoch=2)
    first, second = (tmp_path / name / "checkpoints" for name in ("first", "second"))
    files = sorted(name for name in os.listdir(first) if name.startswith("ckpt-2."))
    assert files == ["ckpt-2.data-00000-of-00001", "ckpt-2.index"]
    for name in files:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    progress, _ = RunState(str(tmp_path / "first")).read_progress(str(first / "ckpt-2"))
    assert progress.history == [{"epoch": 1, "phase": "whole model", "loss": 0.5}]


def test_a_resumed_run_keeps_the_times_of_the_epochs_before_the_resume(tmp_path):
    """The records of a resumed run: epoch 1 from a checkpoint written before wall time left it
    (with its seconds), epoch 2 from one written after (without), epoch 3 timed now."""
    (tmp_path / "timing.csv").write_text("epoch,epoch_seconds\n1,11.0\n2,22.0\n")
    records = [
        {"epoch": 1, "phase": "whole model", "loss": 0.75, "epoch_seconds": 11.0},
        {"epoch": 2, "phase": "whole model", "loss": 0.5},
        {"epoch": 3, "phase": "whole model", "loss": 0.25, "epoch_seconds": 33.0},
    ]
    TimingWriter(str(tmp_path), records).on_epoch_end(2)
    timing = pd.read_csv(tmp_path / "timing.csv")
    assert timing["epoch"].tolist() == [1, 2, 3]
    assert timing["epoch_seconds"].tolist() == [11.0, 22.0, 33.0]
    # A fresh run in that folder (--overwrite_output_folder): its own times only.
    TimingWriter(str(tmp_path), [{**records[0], "epoch_seconds": 5.0}]).on_epoch_end(0)
    assert pd.read_csv(tmp_path / "timing.csv").values.tolist() == [[1, 5.0]]
