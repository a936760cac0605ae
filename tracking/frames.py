"""Frames in and annotated frames out: a video file OpenCV reads, or a folder of images (MOT
Challenge's img1/: 000001.jpg, 000002.jpg, ... in the order of their names). BGR, as OpenCV and
the trackers use them. Every drawn frame is written whole or not at all (atomic_files.py), and
every write is checked: OpenCV's own writers report a failure by a False or not at all."""

import colorsys
import contextlib
import os

import cv2
import numpy as np

from atomic_files import atomic_output, raise_explained, write_atomically

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
DEFAULT_FRAME_RATE = 30.0  # a folder of images says nothing of its rate: MOT17's most common


class FrameSourceError(Exception):
    """Frames that cannot be read; the message says what was expected."""


class AnnotationError(Exception):
    """Drawn frames that could not be written; the message says how many and what to do."""


class FrameSource:
    """The frames of a video file or of a folder of images, in order: for index, frame in
    source, the index counted from 1 as in MOT files."""

    def __init__(self, path: str):
        self.path = path
        if os.path.isdir(path):
            names = sorted(
                name for name in os.listdir(path) if name.lower().endswith(IMAGE_SUFFIXES)
            )
            if not names:
                raise FrameSourceError(
                    f"The folder {path!r} holds no image ({', '.join(IMAGE_SUFFIXES)}); expected "
                    "the frames of one video, e.g. MOT Challenge's img1/ folder."
                )
            self.image_paths = [os.path.join(path, name) for name in names]
            self.frame_rate = DEFAULT_FRAME_RATE
            self.frame_num = len(names)
            self.is_video = False
            self.first_frame = self.read_image(self.image_paths[0], index=1)
            return
        if not os.path.isfile(path):
            raise FrameSourceError(
                f"{path!r} does not exist; expected a video file or a folder of frames."
            )
        self.is_video = True
        capture = cv2.VideoCapture(path)
        success, frame = capture.read() if capture.isOpened() else (False, None)
        if not success:
            capture.release()
            raise FrameSourceError(
                f"OpenCV cannot read {path!r} as a video (no frame could be decoded). Expected a "
                "video file (.mp4, .avi, .mkv, ...) in a format this OpenCV build decodes, or a "
                "folder of frames; a folder of JPEG files extracted with ffmpeg works everywhere: "
                f"ffmpeg -i {path} frames/%06d.jpg"
            )
        self.frame_rate = capture.get(cv2.CAP_PROP_FPS) or DEFAULT_FRAME_RATE
        self.frame_num = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self.first_frame = frame
        capture.release()

    def read_image(self, image_path: str, *, index: int) -> np.ndarray:
        frame = cv2.imread(image_path, cv2.IMREAD_COLOR)
        if frame is None:
            raise FrameSourceError(
                f"OpenCV cannot read the image {image_path!r}, frame {index} of {self.frame_num} "
                "(not an image, or cut short). Replace it with a readable image of the same size "
                "(a copy of the frame before it will do); do not remove it: the detections name "
                "frames by their position in the folder."
            )
        return frame

    def __iter__(self):
        """(index, frame) pairs; read_num counts the frames read so far (a cut video ends
        before the frame count its header announces, without an error)."""
        self.read_num = 0
        if not self.is_video:
            for index, image_path in enumerate(self.image_paths, start=1):
                frame = self.read_image(image_path, index=index)
                self.read_num = index
                yield index, frame
            return
        capture = cv2.VideoCapture(self.path)
        try:
            while True:
                success, frame = capture.read()
                if not success:
                    return
                self.read_num += 1
                yield self.read_num, frame
        finally:
            capture.release()


class AnnotatedOutput:
    """Frames with each track's box and number: a video (.mp4, .avi) or a folder of JPEG images,
    used as a context manager. A video is written under a temporary name and put in place on
    leaving, once OpenCV reads back as many frames as were written (its writer reports no
    failure); on an error it is removed. Each image of a folder is written whole, and on
    leaving the folder must hold every frame written.

        with AnnotatedOutput(path, frame_rate=25.0, frame_size=(360, 640)) as annotated:
            annotated.write(index, frame, tracks)
    """

    def __init__(self, path: str, *, frame_rate: float, frame_size: tuple[int, int]):
        self.path = path
        self.frame_rate = frame_rate
        self.frame_size = frame_size  # height, width
        self.is_video = path.lower().endswith((".mp4", ".avi"))
        self.writer = None
        self.frame_num = 0  # frames written
        self.written_indices = []  # into a folder
        self._video_output = contextlib.ExitStack()

    def __enter__(self) -> "AnnotatedOutput":
        if not self.is_video:
            try:
                os.makedirs(self.path, exist_ok=True)
            except OSError as error:
                raise_explained(error, self.path)
            return self
        temporary_path = self._video_output.enter_context(atomic_output(self.path))
        fourcc = cv2.VideoWriter_fourcc(*("mp4v" if self.path.lower().endswith(".mp4") else "MJPG"))
        height, width = self.frame_size
        self.writer = cv2.VideoWriter(temporary_path, fourcc, self.frame_rate, (width, height))
        self.temporary_path = temporary_path
        if not self.writer.isOpened():
            self._video_output.close()
            raise AnnotationError(
                f"OpenCV cannot write the video {self.path!r} (its build has no encoder for it, "
                "or the folder is not writable); give --noannotate, or track a folder of frames "
                "(drawn as JPEG images)."
            )
        return self

    def __exit__(self, error_type, error, traceback) -> None:
        if self.writer is None:
            if error_type is None:
                self.check_folder()
            return
        self.writer.release()
        if error_type is not None:  # the temporary video is removed, the error goes on
            self._video_output.__exit__(error_type, error, traceback)
            return
        with self._video_output:  # put in place if whole, else removed
            self.check_video()

    def write(self, index: int, frame: np.ndarray, tracks) -> None:
        """tracks: (track, left, top, width, height) rows."""
        frame = draw_tracks(frame, tracks)
        if self.writer is not None:
            self.writer.write(frame)
            self.frame_num += 1
            return
        success, encoded = cv2.imencode(".jpg", frame)
        if not success:
            raise AnnotationError(
                f"OpenCV could not encode frame {index} as JPEG for {self.path!r} "
                f"({frame.shape[1]}x{frame.shape[0]}); give --noannotate to track without drawing."
            )
        write_atomically(self.image_path(index), encoded.tobytes())
        self.frame_num += 1
        self.written_indices.append(index)

    def image_path(self, index: int) -> str:
        return os.path.join(self.path, f"{index:06d}.jpg")

    def check_video(self) -> None:
        capture = cv2.VideoCapture(self.temporary_path)
        found = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
        capture.release()
        if found != self.frame_num:
            raise AnnotationError(
                f"OpenCV's video writer was given {self.frame_num} frames for {self.path}, and "
                f"the video it wrote holds {found} (a full disk, or a write it did not report); "
                "it was not put in place. Free some space and run the same command again, or "
                "give --noannotate."
            )

    def check_folder(self) -> None:
        missing = [
            index for index in self.written_indices if not os.path.isfile(self.image_path(index))
        ]
        if missing:
            raise AnnotationError(
                f"{self.path} lacks {len(missing)} of the {self.frame_num} drawn frames written "
                f"(the first: {os.path.basename(self.image_path(missing[0]))}; removed while "
                "tracking?); run the same command again."
            )


def draw_tracks(frame: np.ndarray, tracks) -> np.ndarray:
    """A copy of the frame with each track's box and number, in the track's colour."""
    frame = frame.copy()
    for track, left, top, width, height in tracks:
        color = track_color(int(track))
        corner = (int(round(left)), int(round(top)))
        far = (int(round(left + width)), int(round(top + height)))
        cv2.rectangle(frame, corner, far, color, thickness=2)
        cv2.putText(
            frame,
            str(int(track)),
            (corner[0] + 2, corner[1] + 14),
            cv2.FONT_HERSHEY_SIMPLEX,
            fontScale=0.5,
            color=color,
            thickness=2,
        )
    return frame


def track_color(track: int) -> tuple[int, int, int]:
    """A bright BGR colour of its own for each track number (golden-ratio hues)."""
    red, green, blue = colorsys.hsv_to_rgb((track * 0.618034) % 1.0, 0.85, 1.0)
    return int(blue * 255), int(green * 255), int(red * 255)
