"""Every file the program writes goes through here: written under a temporary name in the same
folder, then renamed, so an interrupted run never leaves half a file. Imports no TensorFlow.

    with atomic_output("history.csv") as temporary_path:
        frame.to_csv(temporary_path)
    write_atomically("flags.txt", text)
    with atomic_folder("saved_model") as temporary_folder_path:
        tf.saved_model.save(module, temporary_folder_path)
"""

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# tempfile makes private files (0600) and folders (0700); results get the usual permissions.
FILE_MODE = 0o666 & ~current_umask()
FOLDER_MODE = 0o777 & ~current_umask()


@contextlib.contextmanager
def atomic_output(file_path: str) -> Iterator[str]:
    """Yield a temporary path beside `file_path`; on success it replaces `file_path` (a rename,
    atomic on one file system), on failure it is removed and `file_path` is left as it was.

    The temporary name keeps the extension, for writers that choose a format by it (h5py,
    matplotlib).
    """
    folder_path = os.path.dirname(os.path.abspath(file_path))
    os.makedirs(folder_path, exist_ok=True)
    base_name, extension = os.path.splitext(os.path.basename(file_path))
    handle, temporary_path = tempfile.mkstemp(
        prefix=f".{base_name}.", suffix=f".tmp{extension}", dir=folder_path
    )
    os.close(handle)
    try:
        yield temporary_path
        os.chmod(temporary_path, FILE_MODE)
        os.replace(temporary_path, file_path)
    finally:
        if os.path.exists(temporary_path):
            os.remove(temporary_path)


def write_atomically(file_path: str, content: bytes | str) -> None:
    """Write bytes, or text as UTF-8, to `file_path` through atomic_output."""
    data = content.encode() if isinstance(content, str) else content
    with atomic_output(file_path) as temporary_path, open(temporary_path, "wb") as output_file:
        output_file.write(data)


@contextlib.contextmanager
def atomic_folder(folder_path: str) -> Iterator[str]:
    """Yield a temporary folder beside `folder_path`; on success it is renamed to `folder_path`,
    which must not exist (FileExistsError: nothing is overwritten); on failure it is removed."""
    if os.path.exists(folder_path):
        raise FileExistsError(f"{folder_path} already exists; not overwriting it.")
    parent_path = os.path.dirname(os.path.abspath(folder_path))
    os.makedirs(parent_path, exist_ok=True)
    temporary_path = tempfile.mkdtemp(
        prefix=f".{os.path.basename(folder_path)}.", suffix=".partial", dir=parent_path
    )
    try:
        yield temporary_path
        if os.path.exists(folder_path):
            raise FileExistsError(f"{folder_path} already exists; not overwriting it.")
        os.chmod(temporary_path, FOLDER_MODE)
        os.rename(temporary_path, folder_path)
    finally:
        shutil.rmtree(temporary_path, ignore_errors=True)  # only our own temporary folder
