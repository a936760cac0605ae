"""track.py's files without BoxMOT (tracking/mot_files.py, tracking/frames.py): a det.txt is read
and checked whole before the first frame, each problem one message naming the file, the line and
what to do; drawn frames are written whole or the run is told it could not write them."""

import errno
import os

import cv2
import numpy as np
import pytest

from tracking import frames as frames_module
from tracking.frames import AnnotatedOutput, FrameSource, FrameSourceError
from tracking.mot_files import MotFileError, read_detections

GOOD_LINE = "1,-1,10.5,20,30,60,0.9\n"


def detections_error(tmp_path, content) -> str:
    path = tmp_path / "det.txt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(MotFileError) as raised:
        read_detections(str(path))
    message = str(raised.value)
    assert str(path) in message
    return message


def test_read_detections_gives_corners_by_frame(tmp_path):
    path = tmp_path / "det.txt"
    path.write_text(GOOD_LINE + "\n2,-1,0,0,4,8,1,-1,-1,-1\n1,-1,1,2,3,4,0\n")
    found = read_detections(str(path))
    assert sorted(found) == [1, 2]
    assert found[1].tolist() == [[10.5, 20, 40.5, 80, np.float32(0.9)], [1, 2, 4, 6, 0]]
    assert found[2].tolist() == [[0, 0, 4, 8, 1]]


def test_a_file_that_is_not_text_is_named_with_its_line(tmp_path):
    message = detections_error(tmp_path, GOOD_LINE.encode() * 3 + b"\xff\xd8\xff\xe0JFIF\x00")
    assert "line 4" in message and "not text" in message


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400"])
@pytest.mark.parametrize("column", [0, 2, 4, 6])
def test_non_finite_values_in_any_column_are_named(tmp_path, value, column):
    fields = "2,-1,10,20,30,60,0.9".split(",")
    fields[column] = value
    message = detections_error(tmp_path, GOOD_LINE + ",".join(fields) + "\n")
    assert "line 2" in message and "finite" in message
    assert ("frame", "id", "left", "top", "width", "height", "score")[column] in message


@pytest.mark.parametrize("score", ["7.5", "-0.1", "95"])
def test_scores_outside_0_to_1_are_refused(tmp_path, score):
    message = detections_error(tmp_path, GOOD_LINE + f"2,-1,10,20,30,60,{score}\n")
    assert "line 2" in message and "0..1" in message


@pytest.mark.parametrize("size", ["0,60", "30,0", "-20,40"])
def test_boxes_of_zero_or_negative_size_are_refused(tmp_path, size):
    message = detections_error(tmp_path, GOOD_LINE + f"3,-1,10,20,{size},0.5\n")
    assert "line 2" in message and "width" in message


@pytest.mark.parametrize("frame", ["0", "1.5", "-3"])
def test_frames_count_from_1(tmp_path, frame):
    message = detections_error(tmp_path, GOOD_LINE + f"{frame},-1,10,20,30,60,0.5\n")
    assert "line 2" in message and "from 1" in message


def frames_of(num: int, size=(48, 64)) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, size=(*size, 3), dtype=np.uint8) for _ in range(num)]


def test_an_unreadable_frame_in_a_folder_is_named_with_its_position(tmp_path):
    for index, frame in enumerate(frames_of(4), start=1):
        cv2.imwrite(str(tmp_path / f"{index:06d}.jpg"), frame)
    (tmp_path / "000003.jpg").write_bytes(b"\xff\xd8 cut short")
    source = FrameSource(str(tmp_path))
    read = []
    with pytest.raises(FrameSourceError) as raised:
        for index, _ in source:
            read.append(index)
    assert read == [1, 2]
    assert "000003.jpg" in str(raised.value) and "frame 3 of 4" in str(raised.value)


@pytest.mark.parametrize("name", ["annotated.mp4", "annotated.avi"])
def test_a_drawn_video_is_put_in_place_whole(tmp_path, name):
    path = str(tmp_path / name)
    with AnnotatedOutput(path, frame_rate=25.0, frame_size=(48, 64)) as annotated:
        for index, frame in enumerate(frames_of(5), start=1):
            annotated.write(index, frame, [(1, 5, 5, 10, 20)])
        assert not os.path.exists(path)  # under a temporary name until it is whole
    capture = cv2.VideoCapture(path)
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
    capture.release()
    assert os.listdir(tmp_path) == [name]


def test_frames_a_video_writer_drops_silently_stop_the_run(tmp_path, monkeypatch):
    """OpenCV's VideoWriter.write returns nothing and writes nothing on a full disk: the video
    read back must hold every frame written, else it is not put in place."""
    real_writer = cv2.VideoWriter

    class DroppingWriter:
        def __init__(self, *arguments):
            self.writer, self.count = real_writer(*arguments), 0

        def isOpened(self):
            return self.writer.isOpened()

        def write(self, frame):
            self.count += 1
            if self.count <= 3:  # the rest is lost, without a word
                self.writer.write(frame)

        def release(self):
            self.writer.release()

    monkeypatch.setattr(frames_module.cv2, "VideoWriter", DroppingWriter)
    path = str(tmp_path / "annotated.mp4")
    with pytest.raises(frames_module.AnnotationError) as raised:
        with AnnotatedOutput(path, frame_rate=25.0, frame_size=(48, 64)) as annotated:
            for index, frame in enumerate(frames_of(5), start=1):
                annotated.write(index, frame, [])
    assert "given 5 frames" in str(raised.value) and "holds 3" in str(raised.value)
    assert os.listdir(tmp_path) == []  # neither the video nor its temporary


def test_an_error_while_drawing_a_video_leaves_no_file(tmp_path):
    with pytest.raises(FrameSourceError):
        with AnnotatedOutput(
            str(tmp_path / "annotated.mp4"), frame_rate=25.0, frame_size=(48, 64)
        ) as annotated:
            annotated.write(1, frames_of(1)[0], [])
            raise FrameSourceError("frame 2 unreadable")
    assert os.listdir(tmp_path) == []


def test_drawn_images_are_written_whole_and_checked(tmp_path, monkeypatch):
    path = tmp_path / "annotated"
    with AnnotatedOutput(str(path), frame_rate=25.0, frame_size=(48, 64)) as annotated:
        for index, frame in enumerate(frames_of(3), start=1):
            annotated.write(index, frame, [(7, 1, 1, 20, 30)])
    assert sorted(os.listdir(path)) == ["000001.jpg", "000002.jpg", "000003.jpg"]
    assert cv2.imread(str(path / "000003.jpg")).shape == (48, 64, 3)

    monkeypatch.setattr(frames_module.cv2, "imencode", lambda *_: (False, None))
    with pytest.raises(frames_module.AnnotationError, match="frame 4"):
        with AnnotatedOutput(str(path), frame_rate=25.0, frame_size=(48, 64)) as annotated:
            annotated.write(4, frames_of(1)[0], [])
    monkeypatch.undo()

    def no_space(*_):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(frames_module.os, "replace", no_space)  # atomic_files' rename
    with pytest.raises(OSError, match="no space left"):
        with AnnotatedOutput(str(path), frame_rate=25.0, frame_size=(48, 64)) as annotated:
            annotated.write(5, frames_of(1)[0], [])
    monkeypatch.undo()
    assert sorted(os.listdir(path)) == ["000001.jpg", "000002.jpg", "000003.jpg"]


def test_a_video_cut_short_says_how_many_frames_it_gave(tmp_path):
    """A cut video announces its frame count in the header and ends early without an error:
    FrameSource.read_num says how many frames were read, for track.py's warning."""
    path = str(tmp_path / "clip.avi")
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
    for frame in frames_of(10):
        writer.write(frame)
    writer.release()
    with open(path, "rb") as video_file:
        data = video_file.read()
    with open(path, "wb") as video_file:
        video_file.write(data[: len(data) // 2])
    source = FrameSource(path)
    indices = [index for index, _ in source]
    assert source.frame_num == 10 and indices == list(range(1, len(indices) + 1))
    assert source.read_num == len(indices) < 10


def test_the_output_folder_is_checked_and_only_our_temporaries_removed(tmp_path, monkeypatch):
    from tracking import output_folder
    from tracking.output_folder import OutputFolderError, prepare_output_folder

    folder = tmp_path / "tracks"
    (folder / "annotated").mkdir(parents=True)
    ours = [folder / ".tracks.ab12cd34.tmp.txt", folder / "annotated" / ".000003.zz99yy88.tmp.jpg"]
    others = [folder / ".notes.ab12cd34.tmp.txt", folder / "annotated" / "000003.jpg"]
    for path in ours + others:
        path.write_text("x")
    lock, removed = prepare_output_folder(str(folder), annotated_name="annotated")
    assert sorted(removed) == sorted(str(path) for path in ours)
    assert all(path.exists() for path in others) and not any(path.exists() for path in ours)
    assert (folder / ".track.lock").exists()
    with pytest.raises(OutputFolderError, match="in use by another process"):
        prepare_output_folder(str(folder), annotated_name="annotated")  # held: one run at a time
    lock.release()
    assert not (folder / ".track.lock").exists()

    def refused(*_, **__):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(output_folder.tempfile, "mkstemp", refused)  # what a non-root user meets
    with pytest.raises(OutputFolderError, match="permission denied"):
        prepare_output_folder(str(tmp_path / "other"), annotated_name=None)
