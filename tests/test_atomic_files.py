"""Every file is written under a temporary name and renamed: a failure never leaves half a file."""

import os

import pytest

from atomic_files import atomic_folder, atomic_output, write_atomically


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing_behind(tmp_path):
    target = tmp_path / "history.csv"
    write_atomically(str(target), "old\n")
    with pytest.raises(RuntimeError), atomic_output(str(target)) as temporary_path:
        assert temporary_path.endswith(".csv") and os.path.dirname(temporary_path) == str(tmp_path)
        with open(temporary_path, "w") as partial:
            partial.write("half of the new")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["history.csv"]
    write_atomically(str(target), b"new\n")
    assert target.read_bytes() == b"new\n" and os.listdir(tmp_path) == ["history.csv"]
    # Readable like any file the user makes (tempfile's own files are private).
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(target).st_mode & 0o777 == 0o666 & ~umask


def test_folders_appear_whole_or_not_at_all_and_are_never_overwritten(tmp_path):
    target = tmp_path / "saved_model"
    with pytest.raises(RuntimeError), atomic_folder(str(target)) as temporary_path:
        open(os.path.join(temporary_path, "part"), "w").close()
        raise RuntimeError("interrupted")
    assert os.listdir(tmp_path) == []
    with atomic_folder(str(target)) as temporary_path:
        open(os.path.join(temporary_path, "whole"), "w").close()
    assert os.listdir(target) == ["whole"]
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(target).st_mode & 0o777 == 0o777 & ~umask
    with pytest.raises(FileExistsError), atomic_folder(str(target)):
        pass
    assert os.listdir(target) == ["whole"] and os.listdir(tmp_path) == ["saved_model"]
