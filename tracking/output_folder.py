"""track.py's output folder: checked to be a writable folder before any work, held by one run
at a time (a lock), cleared of the temporaries of track.py's own interrupted writes, and the
tracks of a run that stopped early saved under a name that says so.

    tracks.txt           the finished run's tracks (its presence means finished: not overwritten)
    tracks.partial.txt   the tracks of a run stopped by an error, Ctrl-C or SIGTERM, up to then
    annotated/ or annotated.mp4 (.avi)   the drawn frames
    .track.lock          held while a run writes (the operating system lets go when it ends)
"""

import os
import re
import tempfile

from atomic_files import TEMPORARY_NAME, InUseError, WriteError, WriterLock, explain_write_error

TRACKS_NAME = "tracks.txt"
PARTIAL_TRACKS_NAME = "tracks.partial.txt"
LOCK_NAME = ".track.lock"
# The temporaries of track.py's writes (atomic_files.py's names): .tracks.*, .tracks.partial.*,
# .annotated.* beside the tracks, .000001.* in annotated/. Nobody else's are touched.
OUR_TEMPORARY = re.compile(r"^\.(tracks|tracks\.partial|annotated)\.")
OUR_FRAME_TEMPORARY = re.compile(r"^\.\d{6}\.")


class OutputFolderError(Exception):
    """An output folder track.py cannot write into; the message says what to do."""


def prepare_output_folder(
    folder_path: str, *, annotated_name: str | None
) -> tuple[WriterLock, list[str]]:
    """Make sure that track.py can write its results into folder_path (created if missing),
    before any frame is tracked, and take it (one run at a time: two would remove each other's
    temporaries and mix their tracks); remove the temporaries that an interrupted run of
    track.py left there. Returns the lock (release it when done) and the removed paths.
    annotated_name: "annotated", "annotated.mp4" or None."""
    tracks_path = os.path.join(folder_path, TRACKS_NAME)
    check_no_tracks(tracks_path)
    if os.path.exists(folder_path) and not os.path.isdir(folder_path):
        raise OutputFolderError(
            f"--output_folder_path {folder_path} is a file; expected a folder (made if missing) "
            "for tracks.txt and the drawn frames. Choose another path."
        )
    blocking_file = first_file_on_the_way(folder_path)
    if blocking_file is not None:
        raise OutputFolderError(
            f"--output_folder_path {folder_path} cannot be made: {blocking_file} is a file, not a "
            "folder. Choose another path."
        )
    try:
        os.makedirs(folder_path, exist_ok=True)
        handle, probe_path = tempfile.mkstemp(prefix=".tracks.", suffix=".tmp", dir=folder_path)
        os.close(handle)
        os.remove(probe_path)
    except OSError as error:
        raise OutputFolderError(str(explain_write_error(error, tracks_path) or error)) from None
    if annotated_name is not None:
        check_annotated_path(os.path.join(folder_path, annotated_name))
    try:
        lock = WriterLock.acquire(
            os.path.join(folder_path, LOCK_NAME),
            what=f"The output folder {folder_path}",
            advice="Two runs into one folder would mix their tracks and remove each other's "
            "temporary files, so this one stops without changing anything. Wait for that run "
            "to end (or stop it), or choose another --output_folder_path.",
            flag="--output_folder_path",
        )
    except (InUseError, WriteError) as error:
        raise OutputFolderError(str(error)) from None
    try:
        check_no_tracks(tracks_path)  # again, now that no other run can write it
        return lock, remove_our_temporaries(folder_path)
    except BaseException:
        lock.release()
        raise


def check_no_tracks(tracks_path: str) -> None:
    """A finished run's tracks.txt is never overwritten."""
    if os.path.lexists(tracks_path):
        raise OutputFolderError(
            f"{tracks_path} exists (an earlier run's tracks); choose another "
            "--output_folder_path, or move that folder away, so that nothing is overwritten."
        )


def first_file_on_the_way(folder_path: str) -> str | None:
    """The first path on the way to folder_path that exists and is not a folder, if any."""
    path = os.path.abspath(folder_path)
    ancestors = []
    while os.path.dirname(path) != path:
        ancestors.append(path)
        path = os.path.dirname(path)
    for ancestor in reversed(ancestors):
        if not os.path.exists(ancestor):
            return None
        if not os.path.isdir(ancestor):
            return ancestor
    return None


def check_annotated_path(annotated_path: str) -> None:
    wants_folder = not annotated_path.lower().endswith((".mp4", ".avi"))
    if os.path.exists(annotated_path) and os.path.isdir(annotated_path) != wants_folder:
        kind = "a file" if wants_folder else "a folder"
        raise OutputFolderError(
            f"{annotated_path} is {kind}, where the drawn frames go; move it away, choose "
            "another --output_folder_path, or give --noannotate."
        )
    if wants_folder and os.path.isdir(annotated_path):
        try:
            handle, probe_path = tempfile.mkstemp(
                prefix=".000000.", suffix=".tmp", dir=annotated_path
            )
            os.close(handle)
            os.remove(probe_path)
        except OSError as error:
            explained = explain_write_error(error, os.path.join(annotated_path, "000001.jpg"))
            raise OutputFolderError(str(explained or error)) from None


def remove_our_temporaries(folder_path: str) -> list[str]:
    """Remove what track.py's interrupted writes left (atomic_files.py's temporary names)."""
    removed = []
    annotated_path = os.path.join(folder_path, "annotated")
    places = [(folder_path, OUR_TEMPORARY)]
    if os.path.isdir(annotated_path):
        places.append((annotated_path, OUR_FRAME_TEMPORARY))
    for place, ours in places:
        for name in os.listdir(place):
            path = os.path.join(place, name)
            if TEMPORARY_NAME.match(name) and ours.match(name) and os.path.isfile(path):
                os.remove(path)
                removed.append(path)
    return removed


def save_partial_tracks(folder_path: str, rows: list, write_tracks) -> str:
    """Save the rows of a run stopped early (an error, Ctrl-C, SIGTERM) as tracks.partial.txt;
    returns what to tell the user. write_tracks: mot_files.write_tracks."""
    if not rows:
        return "No track was made before that: nothing was written."
    partial_path = os.path.join(folder_path, PARTIAL_TRACKS_NAME)
    last_frame = max(row[0] for row in rows)
    try:
        write_tracks(partial_path, rows)
    except (WriteError, OSError) as error:
        return f"The tracks made until then (up to frame {last_frame}) could not be saved: {error}"
    return (
        f"The tracks made until then, {len(rows):,} boxes up to frame {last_frame}, are in "
        f"{partial_path} (partial: not tracks.txt, which a finished run writes)."
    )
