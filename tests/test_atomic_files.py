"""Every file is written under a temporary name and renamed: a failure never leaves half a file."""

import errno
import os
import signal
import subprocess
import sys

import pytest
from conftest import REPOSITORY

from atomic_files import (
    WriteError,
    atomic_folder,
    atomic_output,
    explain_write_error,
    remove_leftovers,
    remove_leftovers_of,
    temporary_target,
    write_atomically,
)


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


def test_lack_of_space_or_permission_is_explained(tmp_path):
    target = str(tmp_path / "checkpoints" / "ckpt-3")
    full = explain_write_error(OSError(errno.ENOSPC, "No space left on device"), target, size=3e8)
    assert isinstance(full, WriteError)
    assert str(full).startswith(f"Cannot write ckpt-3 into {tmp_path / 'checkpoints'}: no space")
    assert "it needed about 286.1 MB" in str(full) and "free" in str(full)
    denied = explain_write_error(OSError(errno.EACCES, "Permission denied"), target)
    assert f"permission denied: {tmp_path} is not writable for this user" in str(denied)
    assert explain_write_error(OSError(errno.ENOENT, "No such file"), target) is None
    # A real refusal: a file where a folder is needed is neither, so it is raised as it came.
    (tmp_path / "file").write_text("")
    with pytest.raises(FileExistsError):
        write_atomically(str(tmp_path / "file" / "inner.txt"), "x")


def test_a_file_size_limit_is_not_called_a_full_disk(tmp_path):
    """EFBIG (a limit on the size of one file: ulimit -f, the file system's largest file) is its
    own message, with the limit where the process has one; a quota (EDQUOT) its own too; neither
    says "no space left on the device" beside the free space that contradicts it. The limit is
    real: RLIMIT_FSIZE of 100 KB in a child process writing 300 KB."""
    script = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))\n"
        "from atomic_files import WriteError, write_atomically\n"
        "try:\n"
        f"    write_atomically({str(tmp_path / 'features.npz')!r}, bytes(300_000))\n"
        "except WriteError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPOSITORY, capture_output=True, text=True, timeout=60
    )
    message = result.stdout.strip()
    assert result.returncode == 0 and message.startswith(
        f"Cannot write features.npz into {tmp_path}: the file reached a limit on the size of one"
    ), result.stdout + result.stderr
    assert "97.7 KB (ulimit -f)" in message and "no space" not in message
    assert os.listdir(tmp_path) == []
    quota = explain_write_error(OSError(errno.EDQUOT, "Disk quota exceeded"), str(tmp_path / "x"))
    assert "disk quota" in str(quota) and "no space" not in str(quota)


def test_leftovers_of_interrupted_writes_are_found_by_their_names_only(tmp_path):
    ours = [
        tmp_path / ".history.a1b2c3d4.tmp.csv",
        tmp_path / "plots" / ".test_mAP.zz_y9x8w.tmp.png",
        tmp_path / ".training_model.q1w2e3r4.tmp.h5",
    ]
    theirs = [tmp_path / ".hidden", tmp_path / "notes.tmp", tmp_path / "x.tmp.csv"]
    for path in ours + theirs:
        path.parent.mkdir(exist_ok=True)
        path.write_text("")
    (tmp_path / ".saved_model.abcdefgh.partial").mkdir()
    (tmp_path / ".saved_model.abcdefgh.partial" / "variables").write_text("")
    removed = remove_leftovers(str(tmp_path))
    assert sorted(removed) == sorted(
        [str(path) for path in ours] + [str(tmp_path / ".saved_model.abcdefgh.partial")]
    )
    assert all(path.exists() for path in theirs) and not any(path.exists() for path in ours)


def test_crash_points_kill_at_the_named_instant_only():
    code = (
        "import crash_points\n"
        "for name in ['a', 'b', 'a', 'b']:\n"
        "    print(name, flush=True)\n"
        "    crash_points.crash_point(name)\n"
    )
    for spec, printed, status in (
        ("b:2", "a b a b", -signal.SIGKILL),
        ("a:1", "a", -signal.SIGKILL),
        ("c:1", "a b a b", 0),
        ("a:2:SIGTERM", "a b a", -signal.SIGTERM),
    ):
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPOSITORY,
            env={**os.environ, "FLIPREID_CRASH_AT": spec},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (" ".join(result.stdout.split()), result.returncode) == (printed, status), spec


def test_a_writer_removes_the_leftovers_of_its_own_files_only(tmp_path):
    """remove_leftovers_of: the temporaries of the names a writer writes, in that folder alone;
    another writer's temporaries, a user's look-alikes and subfolders stay."""
    assert temporary_target(".model.a1b2c3d4.tmp.json") == "model.json"
    assert temporary_target("..model.onnx.a1b2c3d4.tmp.unchecked") == ".model.onnx.unchecked"
    assert temporary_target(".ranked_lists.new.abcdefgh.partial") == "ranked_lists.new"
    assert temporary_target(".model.json") is None and temporary_target("x.tmp.json") is None
    ours = [".index.a1b2c3d4.tmp.html", ".ranked_lists.q1w2e3r4.tmp.csv"]
    others = [".other.a1b2c3d4.tmp.csv", "index.html", ".index.html", "notes.tmp"]
    for name in ours + others:
        (tmp_path / name).write_text("")
    (tmp_path / ".ranked_lists.new.zzzzzzzz.partial").mkdir()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".index.a1b2c3d4.tmp.html").write_text("")
    removed = remove_leftovers_of(
        str(tmp_path), {"index.html", "ranked_lists.csv", "ranked_lists.new"}.__contains__
    )
    assert sorted(os.path.basename(path) for path in removed) == sorted(
        [*ours, ".ranked_lists.new.zzzzzzzz.partial"]
    )
    assert sorted(os.listdir(tmp_path)) == sorted([*others, "sub"])
    assert os.listdir(tmp_path / "sub") == [".index.a1b2c3d4.tmp.html"]
