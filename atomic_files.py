"""Every file the program writes goes through here: written under a temporary name in the same
folder, then renamed, so an interrupted run never leaves half a file. Imports no TensorFlow.

    with atomic_output("history.csv") as temporary_path:
        frame.to_csv(temporary_path)
    write_atomically("flags.txt", text)
    with atomic_folder("saved_model") as temporary_folder_path:
        tf.saved_model.save(module, temporary_folder_path)

A write that fails for lack of space or permission raises WriteError, which says which file,
which folder and what was missing; the temporary file is removed and the earlier file is left
as it was. remove_leftovers() removes the temporary files of writes that a crash interrupted.
"""

import contextlib
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator

from crash_points import crash_point


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# tempfile makes private files (0600) and folders (0700); results get the usual permissions.
FILE_MODE = 0o666 & ~current_umask()
FOLDER_MODE = 0o777 & ~current_umask()
# Names of our temporary files and folders: ".<name>.<8 random characters>.tmp[.extension]" and
# ".<name>.<8 random characters>.partial".
TEMPORARY_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.(tmp(\.[A-Za-z0-9]+)?|partial)$")
SPACE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
PERMISSION_ERRORS = (errno.EACCES, errno.EPERM, errno.EROFS)


class WriteError(OSError):
    """A file or folder could not be written (no space, no permission); the message says which,
    where, and what to do."""

    def __str__(self) -> str:
        return self.strerror


def explain_write_error(error: OSError, path: str, *, size: int | None = None) -> WriteError | None:
    """A WriteError with a clear message for lack of space or permission, None for other
    errors. size: the bytes the write needed (or had written when it failed), if known."""
    folder_path = os.path.dirname(os.path.abspath(path))
    if error.errno in SPACE_ERRORS:
        free = free_bytes(folder_path)
        needed = f"; it needed about {format_bytes(size)}" if size else ""
        message = (
            f"Cannot write {os.path.basename(path)} into {folder_path}: no space left on the "
            f"device ({format_bytes(free)} free{needed}). Nothing half-written was left behind "
            "and the earlier files are as they were. Free some space (or point "
            "--output_folder_path at a larger disk) and run the same command again."
        )
    elif error.errno in PERMISSION_ERRORS:
        blocked = existing_ancestor(path)
        reason = (
            f"the file system holding {blocked} is read-only"
            if error.errno == errno.EROFS
            else f"permission denied: {blocked} is not writable for this user"
        )
        message = (
            f"Cannot write {path}: {reason}. Give the user write permission there, or choose "
            "another --output_folder_path."
        )
    else:
        return None
    return WriteError(error.errno, message, path)


def raise_explained(error: OSError, path: str, *, size: int | None = None):
    """Raise the WriteError that explains `error`, or `error` itself when it is neither lack of
    space nor of permission."""
    explained = explain_write_error(error, path, size=size)
    if explained is None:
        raise error
    raise explained from error


def existing_ancestor(path: str) -> str:
    """The deepest folder on the way to `path` that exists (where a write was refused)."""
    folder_path = os.path.dirname(os.path.abspath(path))
    while not os.path.isdir(folder_path) and os.path.dirname(folder_path) != folder_path:
        folder_path = os.path.dirname(folder_path)
    return folder_path


def free_bytes(folder_path: str) -> int:
    try:
        return shutil.disk_usage(folder_path).free
    except OSError:
        return 0


def format_bytes(size: int | None) -> str:
    size = size or 0
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


@contextlib.contextmanager
def atomic_output(file_path: str) -> Iterator[str]:
    """Yield a temporary path beside `file_path`; on success it replaces `file_path` (a rename,
    atomic on one file system), on failure it is removed and `file_path` is left as it was.

    The temporary name keeps the extension, for writers that choose a format by it (h5py,
    matplotlib).
    """
    folder_path = os.path.dirname(os.path.abspath(file_path))
    base_name, extension = os.path.splitext(os.path.basename(file_path))
    try:
        os.makedirs(folder_path, exist_ok=True)
        handle, temporary_path = tempfile.mkstemp(
            prefix=f".{base_name}.", suffix=f".tmp{extension}", dir=folder_path
        )
        os.close(handle)
    except OSError as error:
        raise_explained(error, file_path)
    try:
        yield temporary_path
        crash_point(f"writing {os.path.basename(file_path)}")
        os.chmod(temporary_path, FILE_MODE)
        os.replace(temporary_path, file_path)
    except WriteError:
        raise
    except OSError as error:
        written = os.path.getsize(temporary_path) if os.path.exists(temporary_path) else None
        raise_explained(error, file_path, size=written)
    finally:
        if os.path.exists(temporary_path):
            os.remove(temporary_path)
    crash_point(f"wrote {os.path.basename(file_path)}")


def write_atomically(file_path: str, content: bytes | str) -> None:
    """Write bytes, or text as UTF-8, to `file_path` through atomic_output."""
    data = content.encode() if isinstance(content, str) else content
    try:
        with atomic_output(file_path) as temporary_path, open(temporary_path, "wb") as output:
            output.write(data)
    except WriteError as error:
        raise_explained(error.__cause__ or error, file_path, size=len(data))


@contextlib.contextmanager
def atomic_folder(folder_path: str) -> Iterator[str]:
    """Yield a temporary folder beside `folder_path`; on success it is renamed to `folder_path`,
    which must not exist (FileExistsError: nothing is overwritten); on failure it is removed."""
    if os.path.exists(folder_path):
        raise FileExistsError(f"{folder_path} already exists; not overwriting it.")
    parent_path = os.path.dirname(os.path.abspath(folder_path))
    try:
        os.makedirs(parent_path, exist_ok=True)
        temporary_path = tempfile.mkdtemp(
            prefix=f".{os.path.basename(folder_path)}.", suffix=".partial", dir=parent_path
        )
    except OSError as error:
        raise_explained(error, folder_path)
    try:
        yield temporary_path
        if os.path.exists(folder_path):
            raise FileExistsError(f"{folder_path} already exists; not overwriting it.")
        os.chmod(temporary_path, FOLDER_MODE)
        os.rename(temporary_path, folder_path)
    except (FileExistsError, WriteError):
        raise
    except OSError as error:
        raise_explained(error, folder_path)
    finally:
        shutil.rmtree(temporary_path, ignore_errors=True)  # only our own temporary folder


def remove_leftovers(folder_path: str) -> list[str]:
    """Remove the temporary files and folders of writes that a crash interrupted, anywhere
    under folder_path (only names of the form this module gives them); returns their paths."""
    removed = []
    for current, folder_names, file_names in os.walk(folder_path):
        for name in list(folder_names):
            if TEMPORARY_NAME.match(name):
                shutil.rmtree(os.path.join(current, name), ignore_errors=True)
                folder_names.remove(name)
                removed.append(os.path.join(current, name))
        for name in file_names:
            if TEMPORARY_NAME.match(name):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(os.path.join(current, name))
                removed.append(os.path.join(current, name))
    return removed
