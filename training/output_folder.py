"""The output folder of a run: a new run starts in an empty one, the same command continues an
unfinished run, and nothing else is ever overwritten without being asked.

flags.txt and TensorBoard events alone (a run stopped by a bad flag, or before its first
checkpoint) are no result.
"""

import os
import shutil

from atomic_files import write_atomically
from callbacks import RunState
from callbacks.run_state import CHECKPOINT_FOLDER_NAME

FLAGS_FILE_NAME = "flags.txt"
INFERENCE_MODEL_FILE_NAME = "inference_model.h5"
TENSORBOARD_FOLDER_NAME = "tensorboard"
# Flags that do not change what a run computes: a resumed run may give them other values.
RESUME_FREE_FLAGS = (
    "workers",
    "root_folder_path",
    "output_folder_path",
    "overwrite_output_folder",
    "evaluate_testing_before_training",
    "save_data_to_disk",
    "ranked_list_num",
)


class OutputFolderError(Exception):
    """The output folder holds something this run must not touch; the message says what to do."""


def prepare_output_folder(
    output_folder_path: str,
    *,
    flags_text: str,
    overwrite: bool,
    training_epoch_num: int | None,
    writable: bool = True,
) -> None:
    """Create the folder or accept it, then write flags.txt.

    Args:
        flags_text: this run's flags, one per line (--flagfile format).
        overwrite: --overwrite_output_folder: write over the files of an earlier run; its
            checkpoints and TensorBoard events are removed so that they cannot mix with this
            run's. Nothing else is deleted.
        training_epoch_num: the run's epochs over both phases, or None in evaluation-only mode
            (which never continues a run).
        writable: False for the workers of a cluster other than the chief: they check the
            folder as the chief does (and refuse as it does), but change nothing in it.
    Raises:
        OutputFolderError: the folder holds results that are not an unfinished run with the
            same flags.
    """
    entries = set(os.listdir(output_folder_path)) if os.path.isdir(output_folder_path) else set()
    if not entries - {FLAGS_FILE_NAME, TENSORBOARD_FOLDER_NAME}:
        if writable:  # a run stopped before its first checkpoint: start again, without its events
            shutil.rmtree(
                os.path.join(output_folder_path, TENSORBOARD_FOLDER_NAME), ignore_errors=True
            )
    else:
        if overwrite and writable:
            print(f"Writing over results in {output_folder_path} (--overwrite_output_folder).")
            for folder_name in (CHECKPOINT_FOLDER_NAME, TENSORBOARD_FOLDER_NAME):
                shutil.rmtree(os.path.join(output_folder_path, folder_name), ignore_errors=True)
        elif not overwrite:
            check_continuable(
                output_folder_path, flags_text=flags_text, training_epoch_num=training_epoch_num
            )
    if not writable:
        return
    flags_file_path = os.path.join(output_folder_path, FLAGS_FILE_NAME)
    write_atomically(flags_file_path, flags_text)
    print(
        f"Output folder: {output_folder_path} (rerun with --flagfile {flags_file_path})", flush=True
    )


def check_continuable(output_folder_path: str, *, flags_text: str, training_epoch_num) -> None:
    progress = RunState(output_folder_path).read_progress()
    advice = (
        "Choose another --output_folder_path (e.g. one per run of a sweep), move the old results "
        "away, or pass --overwrite_output_folder to write over files of the same names (the old "
        "run's checkpoints are removed; nothing else is deleted)."
    )
    if progress is None or training_epoch_num is None:
        raise OutputFolderError(
            f"The output folder {output_folder_path} already holds results; nothing was changed. "
            + advice
        )
    finished = progress.epoch >= training_epoch_num and os.path.isfile(
        os.path.join(output_folder_path, INFERENCE_MODEL_FILE_NAME)
    )
    if finished:
        raise OutputFolderError(
            f"The output folder {output_folder_path} already holds a finished run; nothing was "
            "changed. " + advice
        )
    flags_file_path = os.path.join(output_folder_path, FLAGS_FILE_NAME)
    saved_flags_text = open(flags_file_path).read() if os.path.isfile(flags_file_path) else ""
    differences = flag_differences(saved_flags_text, flags_text)
    if differences:
        raise OutputFolderError(
            f"The output folder {output_folder_path} holds an unfinished run with other flags; "
            "nothing was changed. Flags that differ (that run's value, then this one's):\n  "
            + "\n  ".join(differences)
            + f"\nTo continue that run, repeat its flags: python3 -u solution.py --flagfile "
            f"{flags_file_path} (with --output_folder_path and --root_folder_path as needed). "
            "To start a new run instead: " + advice
        )
    print(f"The output folder {output_folder_path} holds an unfinished run of these flags.")


def parse_flags_text(flags_text: str) -> dict[str, str]:
    """{flag name: value as text} from --flagfile lines; --name and --noname become "true" and
    "false"."""
    values = {}
    for line in flags_text.splitlines():
        if not line.startswith("--"):
            continue
        name, separator, value = line[2:].partition("=")
        if not separator:
            name, value = (name[2:], "false") if name.startswith("no") else (name, "true")
        values[name] = value
    return values


def flag_differences(saved_flags_text: str, flags_text: str) -> list[str]:
    """Lines "--name: saved value -> this value" for the flags, other than RESUME_FREE_FLAGS,
    whose values differ; a flag missing from the saved text counts as its value here (a flag
    added by a later version of this program, at its default)."""
    saved, current = parse_flags_text(saved_flags_text), parse_flags_text(flags_text)
    if not saved:
        return ["flags.txt: missing or empty, so the earlier run's flags are unknown"]
    return [
        f"--{name}: {saved[name]} -> {value}"
        for name, value in current.items()
        if name not in RESUME_FREE_FLAGS and name in saved and saved[name] != value
    ]
