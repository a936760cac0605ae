"""Every file the program writes goes through here: written under a temporary name in the same
folder, then renamed, so an interrupted run never leaves half a file. Imports no TensorFlow.

    with atomic_output("history.csv") as temporary_path:
        frame.to_csv(temporary_path)
    write_atomically("flags.txt", text)
    with atomic_folder("saved_model") as temporary_folder_path:
        tf.saved_model.save(module, temporary_folder_path)

A write that fails for lack of space or permission raises WriteError, which says which file,
which folder and what was missing; the temporary file is removed and the earlier file is left
as it was. remove_leftovers() removes the temporary files of writes that a crash interrupted;
remove_leftovers_of() only those of the files one writer writes. WriterLock: one writer at a time
for a file or folder (the operating system lets it go when the process ends).
"""

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator

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
# The same names, with the name of the file (stem and extension) or folder they were to become.
TEMPORARY_FILE_NAME = re.compile(
    r"^\.(?P<stem>.+)\.[a-z0-9_]{8}\.tmp(?P<extension>\.[A-Za-z0-9]+)?$"
)
TEMPORARY_FOLDER_NAME = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.partial$")
SPACE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
PERMISSION_ERRORS = (errno.EACCES, errno.EPERM, errno.EROFS)


class WriteError(OSError):
    """A file or folder could not be written (no space, a file size limit or quota, no
    permission); the message says which, where, and what to do. size: the bytes the write
    needed, if known."""

    size: int | None = None

    def __str__(self) -> str:
        return self.strerror


def explain_write_error(
    error: OSError, path: str, *, size: int | None = None, flag: str = "--output_folder_path"
) -> WriteError | None:
    """A WriteError with a clear message for lack of space or permission, None for other
    errors. size: the bytes the write needed (or had written when it failed), if known; flag:
    the program's flag that chooses where it writes."""
    folder_path = os.path.dirname(os.path.abspath(path))
    unchanged = "Nothing half-written was left behind and the earlier files are as they were."
    if error.errno in SPACE_ERRORS:
        free = format_bytes(free_bytes(folder_path))
        needed = f"; it needed about {format_bytes(size)}" if size else ""
        start = f"Cannot write {os.path.basename(path)} into {folder_path}:"
        if error.errno == errno.EFBIG:  # the free space is not what ran out
            message = (
                f"{start} the file reached a limit on the size of one file, "
                f"{file_size_limit()} ({free} free on the device{needed}). {unchanged} Raise "
                f"the limit (ulimit -f unlimited) or point {flag} at a file system that takes "
                "larger files, and run the same command again."
            )
        elif error.errno == errno.EDQUOT:
            message = (
                f"{start} this user's disk quota is used up ({free} free on the device"
                f"{needed}). {unchanged} Free some of the user's files (quota -s shows the "
                f"quota) or point {flag} at another disk, and run the same command again."
            )
        else:
            message = (
                f"{start} no space left on the device ({free} free{needed}). {unchanged} Free "
                f"some space (or point {flag} at a larger disk) and run the same command again."
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
            f"another {flag}."
        )
    else:
        return None
    explained = WriteError(error.errno, message, path)
    explained.size = size
    return explained


def raise_explained(
    error: OSError, path: str, *, size: int | None = None, flag: str = "--output_folder_path"
):
    """Raise the WriteError that explains `error`, or `error` itself when it is neither lack of
    space nor of permission."""
    explained = explain_write_error(error, path, size=size, flag=flag)
    if explained is None:
        raise error
    raise explained from error


def file_size_limit() -> str:
    """This process's limit on the size of a file it writes (RLIMIT_FSIZE), or where else
    EFBIG comes from when it has none."""
    import resource

    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit == resource.RLIM_INFINITY:
        return "set by the file system (4 GB on FAT32) or a quota"
    return f"{format_bytes(limit)} (ulimit -f)"


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


def temporary_target(name: str) -> str | None:
    """The name of the file or folder a temporary of this module's was to become
    (".model.a1b2c3d4.tmp.json" -> "model.json"), or None for any other name."""
    if not TEMPORARY_NAME.match(name):
        return None
    file_match = TEMPORARY_FILE_NAME.match(name)
    if file_match:
        return file_match["stem"] + (file_match["extension"] or "")
    return TEMPORARY_FOLDER_NAME.match(name)["name"]


def remove_leftovers_of(folder_path: str, is_target: Callable[[str], bool]) -> list[str]:
    """Remove from folder_path (not its subfolders) the temporary files and folders of
    interrupted writes of the names is_target accepts: a writer clears its own writes only,
    never another program's or a user's file. Returns their paths."""
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for name in sorted(os.listdir(folder_path)):
            target = temporary_target(name)
            if target is None or not is_target(target):
                continue
            path = os.path.join(folder_path, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
            removed.append(path)
    return removed


class InUseError(Exception):
    """Another process holds the WriterLock; the message says which and what to do."""


class WriterLock:
    """An exclusive lock (flock) on a hidden file, held while one process writes a file or a
    folder: the operating system releases it when the process ends, however it ends, so a killed
    writer never leaves it locked. The file keeps who holds it (pid, host, start, command)."""

    def __init__(self, file_handle, lock_path: str):
        self.file_handle = file_handle  # the lock lives as long as this stays open
        self.lock_path = lock_path

    @classmethod
    def acquire(cls, lock_path: str, *, what: str, advice: str, flag: str) -> "WriterLock":
        """Take the lock or raise InUseError ("{what} is in use by another process (...).
        {advice}"); flag: the program's flag that chose the place (for WriteError)."""
        while True:
            file_handle, holder = take_exclusive_lock(lock_path, flag=flag)
            if file_handle is None:
                raise InUseError(f"{what} is in use by another process ({holder}). {advice}")
            # A holder removes the file when it is done: a lock on a removed file is no lock.
            try:
                same_file = os.path.samestat(os.fstat(file_handle.fileno()), os.stat(lock_path))
            except FileNotFoundError:
                same_file = False
            if same_file:
                break
            file_handle.close()
        write_holder(file_handle, command=" ".join(sys.argv))
        return cls(file_handle, lock_path)

    def release(self) -> None:
        """Remove the lock file (while still holding it) and let go."""
        if self.file_handle.closed:
            return
        with contextlib.suppress(OSError):
            os.remove(self.lock_path)
        self.file_handle.close()


def take_exclusive_lock(lock_path: str, *, flag: str = "--output_folder_path"):
    """Open lock_path and take an exclusive flock on it without waiting: (the open file, which
    holds the lock until closed, "") or, when another process holds it, (None, who that is)."""
    try:
        file_handle = open(lock_path, "a+")
    except OSError as error:
        raise_explained(error, lock_path, flag=flag)
    try:
        fcntl.flock(file_handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        file_handle.seek(0)
        holder = describe_holder(file_handle.read())
        file_handle.close()
        return None, holder
    return file_handle, ""


def write_holder(file_handle, *, command: str) -> None:
    """Say in a held lock's file who holds it (pid, host, start, command), for a refusal."""
    file_handle.seek(0)
    file_handle.truncate()
    file_handle.write(
        json.dumps(
            {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                "command": command,
            }
        )
    )
    file_handle.flush()


def describe_holder(text: str) -> str:
    """Who holds a lock, from what its file says."""
    try:
        holder = json.loads(text)
        return (
            f"process {holder['pid']} on {holder['host']}, started {holder['started']}: "
            f"{holder['command']}"
        )
    except (ValueError, KeyError, TypeError):
        return "a process that has not yet written who it is"
