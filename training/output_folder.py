"""The output folder of a run: one writer at a time, a new run starts in an empty one, the same
command continues an unfinished run (whatever instant it stopped at), and nothing else is ever
overwritten without being asked.

    lock = OutputFolderLock.acquire(folder_path, command=...)   # held until the process ends
    resume_point = prepare_output_folder(folder_path, ..., run_state=run_state)

flags.txt, log.txt and TensorBoard events alone (a run stopped by a bad flag, or before its first
checkpoint) are no result. A run is finished once finished.json, written after every other
final file, exists.
"""

import json
import os
import shutil

from atomic_files import (
    TEMPORARY_NAME,
    raise_explained,
    remove_leftovers,
    take_exclusive_lock,
    write_atomically,
    write_holder,
)
from callbacks import CheckpointError, ResumePoint, RunState
from callbacks.run_state import CHECKPOINT_FOLDER_NAME
from settings.flag_files import parse_flag_lines

FLAGS_FILE_NAME = "flags.txt"
LOG_FILE_NAME = "log.txt"
LOCK_FILE_NAME = ".flipreid.lock"
FINISHED_FILE_NAME = "finished.json"
TENSORBOARD_FOLDER_NAME = "tensorboard"
TIMING_FILE_NAME = "timing.csv"  # wall times, written before the checkpoint they belong to
NO_RESULT_NAMES = {
    FLAGS_FILE_NAME,
    LOG_FILE_NAME,
    LOCK_FILE_NAME,
    TENSORBOARD_FOLDER_NAME,
    TIMING_FILE_NAME,
}
# Flags that do not change what a run computes: a resumed run may give them other values.
RESUME_FREE_FLAGS = (
    "workers",
    "root_folder_path",
    "output_folder_path",
    "overwrite_output_folder",
    "evaluate_testing_before_training",
    "save_data_to_disk",
    "ranked_list_num",
    "checkpoints_kept_after_training",
)


class OutputFolderError(Exception):
    """The output folder holds something this run must not touch, or is in use by another run;
    the message says what to do."""


class OutputFolderLock:
    """An exclusive lock on a run's output folder (flock on a file in it): the operating system
    releases it when the process ends, however it ends, so a killed run never leaves its folder
    locked. The file keeps who holds it (pid, host, start time, command) for the refusal."""

    def __init__(self, file_handle):
        self.file_handle = file_handle  # the lock lives as long as this stays open

    @classmethod
    def acquire(cls, folder_path: str, *, command: str) -> "OutputFolderLock":
        lock_path = os.path.join(folder_path, LOCK_FILE_NAME)
        in_the_way = first_file_on_the_way(folder_path)
        if in_the_way is not None:
            raise OutputFolderError(
                f"The output folder {folder_path} cannot be made: {in_the_way} is a file, not a "
                "folder. Choose another --output_folder_path, or move that file away."
            )
        try:
            os.makedirs(folder_path, exist_ok=True)
        except OSError as error:
            raise_explained(error, lock_path)
        file_handle, holder = take_exclusive_lock(lock_path)
        if file_handle is None:
            raise OutputFolderError(
                f"The output folder {folder_path} is in use by another run ({holder}). Two runs "
                "writing one folder would mix their results, so this one stops without "
                "changing anything. Wait for that run to end (or stop it), or choose another "
                "--output_folder_path."
            )
        write_holder(file_handle, command=command)
        return cls(file_handle)

    def release(self) -> None:
        self.file_handle.close()


def first_file_on_the_way(folder_path: str) -> str | None:
    """The path or one of its parents where a file (not a folder) stands, if any."""
    path = os.path.abspath(folder_path)
    while True:
        if os.path.exists(path) and not os.path.isdir(path):
            return path
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent


def prepare_output_folder(
    output_folder_path: str,
    *,
    flags_text: str,
    overwrite: bool,
    training_epoch_num: int | None,
    steps_per_epoch: int,
    run_state: RunState | None,
    writable: bool = True,
) -> ResumePoint | None:
    """Clean up after a crash, check the folder, write flags.txt; returns the checkpoint to
    continue from (None for a new run). Take the OutputFolderLock first.

    Args:
        flags_text: this run's flags, one per line (--flagfile format).
        overwrite: --overwrite_output_folder: write over the files of an earlier run; its
            checkpoints, TensorBoard events and finished mark are removed so that they cannot
            mix with this run's. Nothing else is deleted.
        training_epoch_num: the run's epochs over both phases, or None in evaluation-only mode
            (which never continues a run).
        run_state: the run's checkpoints (None in evaluation-only mode).
        writable: False for the workers of a cluster other than the chief: they check the
            folder as the chief does (and refuse as it does), but change nothing in it.
    Raises:
        OutputFolderError: the folder holds results that are not an unfinished run with the
            same flags, or checkpoints none of which can be restored.
    """
    if writable:
        removed = remove_leftovers(output_folder_path)
        if run_state is not None:
            removed += run_state.remove_unfinished_saves()
        if removed:
            shown = ", ".join(os.path.relpath(path, output_folder_path) for path in removed[:5])
            more = f" and {len(removed) - 5} more" if len(removed) > 5 else ""
            print(
                f"Removed {len(removed)} temporary file(s) that an interrupted run left in "
                f"{output_folder_path}: {shown}{more}",
                flush=True,
            )
    resume_point = None
    if not result_names(output_folder_path):
        if writable:  # a run stopped before its first checkpoint: start again, without its events
            shutil.rmtree(
                os.path.join(output_folder_path, TENSORBOARD_FOLDER_NAME), ignore_errors=True
            )
    elif overwrite:
        if writable:
            print(f"Writing over results in {output_folder_path} (--overwrite_output_folder).")
            for folder_name in (CHECKPOINT_FOLDER_NAME, TENSORBOARD_FOLDER_NAME):
                shutil.rmtree(os.path.join(output_folder_path, folder_name), ignore_errors=True)
            finished_path = os.path.join(output_folder_path, FINISHED_FILE_NAME)
            if os.path.exists(finished_path):
                os.remove(finished_path)
    else:
        resume_point = check_continuable(
            output_folder_path,
            flags_text=flags_text,
            training_epoch_num=training_epoch_num,
            steps_per_epoch=steps_per_epoch,
            run_state=run_state,
            writable=writable,
        )
    if writable:
        flags_file_path = os.path.join(output_folder_path, FLAGS_FILE_NAME)
        write_atomically(flags_file_path, flags_text)
        print(
            f"Output folder: {output_folder_path} (rerun with --flagfile {flags_file_path})",
            flush=True,
        )
    return resume_point


def result_names(output_folder_path: str) -> set[str]:
    """The names in the folder other than what every start writes (NO_RESULT_NAMES) and the
    temporaries of writes: a worker of a cluster that is not the chief looks at the folder while
    the chief may be writing flags.txt under a temporary name (a write in progress is no result)."""
    if not os.path.isdir(output_folder_path):
        return set()
    return {
        name
        for name in os.listdir(output_folder_path)
        if name not in NO_RESULT_NAMES and not TEMPORARY_NAME.match(name)
    }


def remove_if_only_a_start(output_folder_path: str) -> None:
    """Remove a run folder that holds nothing but what every start writes (flags.txt, log.txt,
    the lock): call it only for a folder that this start created."""
    start_files = {FLAGS_FILE_NAME, LOG_FILE_NAME, LOCK_FILE_NAME}
    if os.path.isdir(output_folder_path) and set(os.listdir(output_folder_path)) <= start_files:
        shutil.rmtree(output_folder_path, ignore_errors=True)


def is_finished(output_folder_path: str) -> bool:
    """Whether the folder holds the mark a finished run writes last (a readable finished.json)."""
    try:
        with open(os.path.join(output_folder_path, FINISHED_FILE_NAME)) as mark_file:
            mark = json.load(mark_file)
    except (OSError, ValueError):  # missing, unreadable, or not JSON
        return False
    return isinstance(mark, dict) and "finished" in mark


def check_continuable(
    output_folder_path: str,
    *,
    flags_text: str,
    training_epoch_num: int | None,
    steps_per_epoch: int,
    run_state: RunState | None,
    writable: bool,
) -> ResumePoint | None:
    advice = (
        "Choose another --output_folder_path (e.g. one per run of a sweep), move the old results "
        "away, or pass --overwrite_output_folder to write over files of the same names (the old "
        "run's checkpoints are removed; nothing else is deleted)."
    )
    if is_finished(output_folder_path):
        raise OutputFolderError(
            f"The output folder {output_folder_path} already holds a finished run; nothing was "
            "changed. " + advice
        )
    if os.path.exists(os.path.join(output_folder_path, FINISHED_FILE_NAME)):
        print(
            f"Warning: {FINISHED_FILE_NAME} in {output_folder_path} is not the mark a finished "
            "run writes (damaged?); the run is taken as unfinished, and its mark is written "
            "again when it ends.",
            flush=True,
        )
    resume_point = None
    if run_state is not None and training_epoch_num is not None:
        try:
            resume_point = run_state.find_resume_point(
                steps_per_epoch=steps_per_epoch, writable=writable
            )
        except CheckpointError as error:
            raise OutputFolderError(str(error)) from error
    results = result_names(output_folder_path) - {CHECKPOINT_FOLDER_NAME}
    if resume_point is None and not results and training_epoch_num is not None:
        print(f"{output_folder_path} holds no finished epoch of an earlier start: a new run.")
        if writable:  # the events of that start would mix with this run's
            shutil.rmtree(
                os.path.join(output_folder_path, TENSORBOARD_FOLDER_NAME), ignore_errors=True
            )
        return None
    flags_file_path = os.path.join(output_folder_path, FLAGS_FILE_NAME)
    saved_flags_text = open(flags_file_path).read() if os.path.isfile(flags_file_path) else ""
    differences = flag_differences(saved_flags_text, flags_text)
    if resume_point is None and training_epoch_num is None and saved_flags_text and not differences:
        # An evaluation stopped before its finished mark: its files are made again, the same.
        print(
            f"The output folder {output_folder_path} holds an unfinished evaluation of these "
            "flags: evaluating again."
        )
        return None
    if resume_point is None:
        raise OutputFolderError(
            f"The output folder {output_folder_path} already holds results; nothing was changed. "
            + advice
        )
    if differences:
        if saved_flags_text:
            how_to_continue = (
                "To continue that run, repeat its flags: python3 -u solution.py --flagfile "
                f"{flags_file_path} (with --output_folder_path and --root_folder_path as needed)."
            )
        else:
            how_to_continue = (
                f"To continue that run, give its flags: {LOG_FILE_NAME} in that folder begins "
                "each start with the flags it ran with (the lines starting with --); put that "
                f"run's into {flags_file_path} and run python3 -u solution.py --flagfile "
                f"{flags_file_path}."
            )
        raise OutputFolderError(
            f"The output folder {output_folder_path} holds an unfinished run with other flags; "
            "nothing was changed. Flags that differ (that run's value, then this one's):\n  "
            + "\n  ".join(differences)
            + f"\n{how_to_continue} To start a new run instead: "
            + advice
        )
    print(f"The output folder {output_folder_path} holds an unfinished run of these flags.")
    return resume_point


def flag_differences(saved_flags_text: str, flags_text: str) -> list[str]:
    """Lines "--name: saved value -> this value" for the flags, other than RESUME_FREE_FLAGS,
    whose values differ; a flag missing from the saved text counts as its value here (a flag
    added by a later version of this program, at its default)."""
    saved, current = parse_flag_lines(saved_flags_text), parse_flag_lines(flags_text)
    if not saved:
        return ["flags.txt: missing or empty, so the earlier run's flags are unknown"]
    return [
        f"--{name}: {saved[name]} -> {value}"
        for name, value in current.items()
        if name not in RESUME_FREE_FLAGS and name in saved and saved[name] != value
    ]
