"""Running a sweep's runs: one after another, or one per GPU at a time; finished runs are skipped,
unfinished ones continued (solution.py resumes them), failures recorded and the others run on.

A SIGTERM or Ctrl-C to the sweep is passed on to its running runs, which save and stop; the
sweep waits for them, so no run is left behind as an orphan. A run also gets a SIGTERM if the
sweep itself dies (Linux), and saves then too.
"""

import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

from atomic_files import write_atomically

from .grid import Run
from .summary import result_folder

RECORD_FILE_NAME = "sweep_runs.json"
POLL_SECONDS = 1.0


@dataclass
class Attempt:
    """What the last start of a run came to."""

    status: str  # finished, failed, interrupted
    exit_status: int
    error: str
    seconds: float
    log_file_path: str


def visible_gpus() -> list[str]:
    """The GPUs a run can be given, without starting TensorFlow: CUDA_VISIBLE_DEVICES, or
    nvidia-smi's list; none on a machine without GPUs."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [gpu for gpu in visible.split(",") if gpu.strip() and gpu.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False)
    return [str(index) for index, line in enumerate(listing.stdout.splitlines()) if "GPU" in line]


class SweepInterrupted(Exception):
    """The sweep was asked to stop (SIGTERM, Ctrl-C); its running runs saved and stopped."""

    def __init__(self, signal_number: int):
        super().__init__(signal.Signals(signal_number).name)
        self.signal_number = signal_number


def is_finished(run: Run) -> bool:
    """Whether the run's folder holds a finished run: solution.py's finished.json, or both
    inference-model files for runs of earlier versions (which wrote no finished.json)."""
    folder_path = result_folder(run.output_folder_path)
    if folder_path is None:
        return False
    if os.path.isfile(os.path.join(folder_path, "finished.json")):
        return True
    return all(
        os.path.isfile(os.path.join(folder_path, name))
        for name in ("inference_model.h5", "inference_model.json")
    )


# The lines that say why a run failed, whoever wrote them: solution.py's own, absl's flag parser
# (its next line only says "Pass --helpshort ..."), and the last line of a Python traceback.
ERROR_PREFIXES = ("Error: ", "FATAL Flags parsing error", "KeyboardInterrupt")


def last_error_line(log_file_path: str) -> str:
    """The run's error message: the last line that starts like one of ERROR_PREFIXES, the
    exception line after a traceback, or the log's last line."""
    with open(log_file_path, errors="replace") as log_file:
        lines = [line.strip() for line in log_file if line.strip()]
    errors = [line for line in lines if line.startswith(ERROR_PREFIXES)]
    if errors:
        return errors[-1]
    if "Traceback (most recent call last):" in lines:
        after = lines[len(lines) - 1 - lines[::-1].index("Traceback (most recent call last):") :]
        exception_lines = [line for line in after if not line.startswith(("File ", "Traceback"))]
        if exception_lines:
            return exception_lines[-1]
    return (lines or [""])[-1]


def read_record(sweep_folder_path: str) -> dict[str, dict]:
    path = os.path.join(sweep_folder_path, RECORD_FILE_NAME)
    if not os.path.isfile(path):
        return {}
    with open(path) as record_file:
        return json.load(record_file)


def execute(
    runs: list[Run], *, common_arguments: list[str], sweep_folder_path: str, gpus: list[str]
) -> dict[str, Attempt]:
    """Start every unfinished run, at most one per GPU at a time (one at a time without GPUs),
    each with its log under logs/; returns and records (sweep_runs.json) each attempt."""
    record = read_record(sweep_folder_path)
    attempts: dict[str, Attempt] = {}
    pending = []
    for run in runs:
        if is_finished(run):
            print(f"{run.name}: finished, skipped", flush=True)
        else:
            pending.append(run)
    free_slots = list(gpus) or [None]
    running: dict = {}  # slot -> (run, process, start time, log file path)
    stop_signals = []

    def pass_on(signal_number, frame):
        """SIGTERM, Ctrl-C: the runs save and stop (each gets the signal once); the sweep waits."""
        if not stop_signals:
            for _, process, _, _ in running.values():
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal_number)
        stop_signals.append(signal_number)

    previous = {
        number: signal.signal(number, pass_on) for number in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        while pending or running:
            while pending and free_slots and not stop_signals:
                slot, run = free_slots.pop(0), pending.pop(0)
                running[slot] = start(run, common_arguments, sweep_folder_path, gpu=slot)
            if stop_signals and not running:
                break
            time.sleep(POLL_SECONDS)
            for slot, (run, process, started, log_file_path) in list(running.items()):
                if process.poll() is None:
                    continue
                del running[slot]
                free_slots.append(slot)
                attempts[run.name] = finish(run, process, started, log_file_path)
                record[run.name] = {"values": run.values, **asdict(attempts[run.name])}
                write_atomically(
                    os.path.join(sweep_folder_path, RECORD_FILE_NAME),
                    json.dumps(record, indent=2),
                )
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if stop_signals:
        print(
            f"Sweep stopped on {signal.Signals(stop_signals[0]).name}; the same sweep command "
            f"continues it ({len(pending)} run(s) not started).",
            flush=True,
        )
        raise SweepInterrupted(stop_signals[0])
    return attempts


def terminate_when_parent_dies() -> None:
    """In the child, before it runs solution.py: a SIGTERM when the sweep dies, however it dies
    (Linux's PR_SET_PDEATHSIG), so that the run saves and stops instead of running on alone."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


def start(run: Run, common_arguments: list[str], sweep_folder_path: str, *, gpu: str | None):
    log_file_path = os.path.join(sweep_folder_path, "logs", f"{run.name}.log")
    os.makedirs(os.path.dirname(log_file_path), exist_ok=True)
    environment = dict(os.environ)
    if gpu is not None:
        environment["CUDA_VISIBLE_DEVICES"] = gpu
    where = "" if gpu is None else f" on GPU {gpu}"
    print(f"{run.name}: started{where}, log {log_file_path}", flush=True)
    with open(log_file_path, "a") as log_file:  # appended: an earlier attempt's log stays
        log_file.write(f"\n$ {run.printable_command(common_arguments)}\n")
        log_file.flush()
        process = subprocess.Popen(
            run.command(common_arguments),
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
            env=environment,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            # Its own process group: a Ctrl-C at the terminal reaches the sweep only, which
            # passes it on once (a second Ctrl-C would stop a run without saving).
            start_new_session=True,
            preexec_fn=terminate_when_parent_dies,
        )
    return run, process, time.perf_counter(), log_file_path


def finish(run: Run, process, started: float, log_file_path: str) -> Attempt:
    seconds = time.perf_counter() - started
    if is_finished(run):
        status, error = "finished", ""
    elif process.returncode in (130, 143, -signal.SIGTERM, -signal.SIGINT):
        status, error = "interrupted", "stopped by a signal; the same command continues it"
    else:
        status, error = "failed", last_error_line(log_file_path)
    print(f"{run.name}: {status} after {seconds / 60:.1f} min {error}".rstrip(), flush=True)
    return Attempt(
        status=status,
        exit_status=process.returncode,
        error=error,
        seconds=seconds,
        log_file_path=log_file_path,
    )
