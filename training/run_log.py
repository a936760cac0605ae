"""log.txt: everything the program prints (stdout and stderr), also kept in the run's folder, as
torchreid and fast-reid keep theirs. What is printed before the folder is known (the flags, the
devices) is held and written first; a resumed run appends to the same file.

    run_log = RunLog.start()          # first thing in main()
    run_log.write_into(folder_path)   # once the folder is locked
"""

import io
import os
import sys


class Tee(io.TextIOBase):
    """A text stream that writes to `stream` and to `copy` (which may change)."""

    def __init__(self, stream, copy):
        super().__init__()
        self.stream, self.copy = stream, copy

    def write(self, text: str) -> int:
        self.stream.write(text)
        self.copy.write(text)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()
        self.copy.flush()

    def isatty(self) -> bool:  # progress bars decide by it
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()


class RunLog:
    def __init__(self):
        self.held = io.StringIO()
        self.streams = (sys.stdout, sys.stderr)
        sys.stdout = Tee(sys.stdout, self.held)
        sys.stderr = Tee(sys.stderr, self.held)

    @classmethod
    def start(cls) -> "RunLog":
        return cls()

    def log_only(self, text: str) -> None:
        """Into log.txt (or what is held for it) but not onto the console."""
        sys.stdout.flush()
        sys.stdout.copy.write(text)

    def write_into(self, folder_path: str, file_name: str = "log.txt") -> None:
        """From now on also into folder_path/file_name (appended), after what was held."""
        log_file = open(os.path.join(folder_path, file_name), "a", buffering=1)  # noqa: SIM115
        log_file.write(self.held.getvalue())
        log_file.flush()
        sys.stdout.copy = sys.stderr.copy = log_file

    def stop(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = self.streams
