"""Progress lines of long work, shared by the Keras and the ONNX feature extraction and the
training loop's step lines; imports no TensorFlow.

    progress = ExtractionProgress(len(paths))
    for batch in batches: ...; progress.update(done)
"""

import time

PROGRESS_SECONDS = 10  # no wait of more than about 10 s without a line


def format_duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"
    if seconds >= 60:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{seconds:.0f} s"


class ExtractionProgress:
    """Prints a line (images done, images per second, time left) every PROGRESS_SECONDS while
    features are extracted, so that a long extraction says how far it is."""

    def __init__(self, total: int, *, task: str = "features", noun: str = "images"):
        self.total, self.task, self.noun = total, task, noun
        self.start = self.last_line = time.perf_counter()

    def update(self, done: int) -> None:
        now = time.perf_counter()
        if now - self.last_line < PROGRESS_SECONDS or done >= self.total:
            return
        self.last_line = now
        rate = done / (now - self.start)
        print(
            f"  {self.task}: {done:,} of {self.total:,} {self.noun} "
            f"({100 * done / self.total:.0f}%), {rate:.0f} {self.noun}/s, "
            f"{format_duration((self.total - done) / rate)} left",
            flush=True,
        )
