"""Frames in and annotated frames out: a video file OpenCV reads, or a folder of images (MOT
Challenge's img1/: 000001.jpg, 000002.jpg, ... in the order of their names). BGR, as OpenCV and
the trackers use them."""

import colorsys
import os

import cv2
import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
DEFAULT_FRAME_RATE = 30.0  # a folder of images says nothing of its rate: MOT17's most common


class FrameSourceError(Exception):
    """Frames that cannot be read; the message says what was expected."""


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
            self.first_frame = self.read_image(self.image_paths[0])
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

    def read_image(self, image_path: str) -> np.ndarray:
        frame = cv2.imread(image_path, cv2.IMREAD_COLOR)
        if frame is None:
            raise FrameSourceError(f"OpenCV cannot read the image {image_path!r}.")
        return frame

    def __iter__(self):
        if not self.is_video:
            for index, image_path in enumerate(self.image_paths, start=1):
                yield index, self.read_image(image_path)
            return
        capture = cv2.VideoCapture(self.path)
        try:
            index = 0
            while True:
                success, frame = capture.read()
                if not success:
                    return
                index += 1
                yield index, frame
        finally:
            capture.release()


class AnnotatedOutput:
    """Frames with each track's box and number: a video (.mp4) or a folder of JPEG images."""

    def __init__(self, path: str, *, frame_rate: float, frame_size: tuple[int, int]):
        self.path = path
        self.writer = None
        if path.lower().endswith((".mp4", ".avi")):
            fourcc = cv2.VideoWriter_fourcc(*("mp4v" if path.lower().endswith(".mp4") else "MJPG"))
            height, width = frame_size
            self.writer = cv2.VideoWriter(path, fourcc, frame_rate, (width, height))
            if not self.writer.isOpened():
                raise FrameSourceError(f"OpenCV cannot write the video {path!r}.")
        else:
            os.makedirs(path, exist_ok=True)

    def write(self, index: int, frame: np.ndarray, tracks) -> None:
        """tracks: (track, left, top, width, height) rows."""
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
        if self.writer is not None:
            self.writer.write(frame)
        else:
            cv2.imwrite(os.path.join(self.path, f"{index:06d}.jpg"), frame)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()


def track_color(track: int) -> tuple[int, int, int]:
    """A bright BGR colour of its own for each track number (golden-ratio hues)."""
    red, green, blue = colorsys.hsv_to_rgb((track * 0.618034) % 1.0, 0.85, 1.0)
    return int(blue * 255), int(green * 255), int(red * 255)
