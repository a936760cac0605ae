"""MOT Challenge text files: detections in (det.txt), tracks out, ground truth (gt.txt).

One object per line, comma-separated, boxes as left, top, width, height in pixels, frames
counted from 1:
    det.txt:    frame, -1, left, top, width, height, score[, x, y, z]
    tracks:     frame, track, left, top, width, height, score, -1, -1, -1
    gt.txt:     frame, identity, left, top, width, height, considered (1), class (1), visibility
"""

import math

import numpy as np

from atomic_files import write_atomically

DETECTION_COLUMNS = ("frame", "id", "left", "top", "width", "height", "score")
# Pixels and frame numbers beyond this are no video's; float32 keeps them finite.
MAX_VALUE = 1e9
BOX_ROW_FORMATS = ("d", "d", ".2f", ".2f", ".2f", ".2f", ".4f", "d", "d", "d")


class MotFileError(Exception):
    """A MOT file that cannot be read; the message says where and what to do."""


def read_detections(file_path: str) -> dict[int, np.ndarray]:
    """frame -> (n, 5) float32 rows x1, y1, x2, y2, score (the corners trackers take). The whole
    file is read and checked before any frame is tracked: MotFileError names the first line that
    is not a detection (not text, not numbers, a value that is not finite, a frame not counted
    from 1, a box of no size, a score outside 0..1)."""
    try:
        with open(file_path, "rb") as detections_file:
            data = detections_file.read()
    except OSError as error:
        raise MotFileError(
            f"Cannot read the detections file {file_path!r}: {error.strerror}."
        ) from None
    try:
        lines = data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as error:
        line_number = data[: error.start].count(b"\n") + 1
        raise MotFileError(
            f"{file_path}, line {line_number}: not text (byte 0x{data[error.start]:02x} is not "
            "UTF-8); expected MOT Challenge's det.txt, one detection per line in plain text. Is "
            "it an image, a binary or a compressed file? Give the detector's text output."
        ) from None
    by_frame: dict[int, list] = {}
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        frame, _, left, top, width, height, score = check_row(
            parse_row(line, file_path, line_number), file_path, line_number
        )
        by_frame.setdefault(int(frame), []).append((left, top, left + width, top + height, score))
    if not by_frame:
        raise MotFileError(f"The detections file {file_path!r} holds no detection.")
    return {frame: np.array(rows, np.float32) for frame, rows in by_frame.items()}


def check_row(values: list[float], file_path: str, line_number: int) -> list[float]:
    """The values of one det.txt line, or MotFileError naming the line and what to do."""
    where = f"{file_path}, line {line_number}"
    for name, value in zip(DETECTION_COLUMNS, values, strict=True):
        if not math.isfinite(value) or abs(value) > MAX_VALUE:
            raise MotFileError(
                f"{where}: the {name} is {value:g}; every value of a detection must be a finite "
                f"number (of magnitude below {MAX_VALUE:g}). Fix or remove that line (a "
                "detector's nan or inf is a box it could not place)."
            )
    frame, _, _, _, width, height, score = values
    if frame != int(frame) or frame < 1:
        raise MotFileError(
            f"{where}: the frame number is {frame:g}; MOT files count frames from 1 in the first "
            "column (add 1 to every frame number of a detector that counts from 0)."
        )
    if width <= 0 or height <= 0:
        raise MotFileError(
            f"{where}: a box of width {width:g} and height {height:g}; columns 5 and 6 are the "
            "width and height in pixels (MOT's left, top, width, height), not the right and "
            "bottom corner, and a box of no size is no detection: remove it."
        )
    if not 0 <= score <= 1:
        raise MotFileError(
            f"{where}: the score is {score:g}; scores are a detector's confidence in 0..1 "
            "(BoxMOT's thresholds, e.g. BoT-SORT's 0.5 and 0.6, assume them). Scale them into "
            "0..1 (a percentage: divide by 100)."
        )
    return values


def parse_row(line: str, file_path: str, line_number: int) -> list[float]:
    fields = line.split(",")
    if len(fields) < len(DETECTION_COLUMNS):
        separator_hint = (
            " The fields are separated by spaces or tabs; MOT files separate them by commas."
            if len(line.split()) >= len(DETECTION_COLUMNS)
            else ""
        )
        raise MotFileError(
            f"{file_path}, line {line_number}: {len(fields)} comma-separated column(s), "
            f"expected at least {len(DETECTION_COLUMNS)} ({', '.join(DETECTION_COLUMNS)}), as in "
            f"MOT Challenge's det.txt.{separator_hint} The line: {line.strip()[:80]!r}"
        )
    try:
        return [float(field) for field in fields[: len(DETECTION_COLUMNS)]]
    except ValueError:
        raise MotFileError(
            f"{file_path}, line {line_number}: the first {len(DETECTION_COLUMNS)} columns must be "
            f"numbers ({', '.join(DETECTION_COLUMNS)}); found {line.strip()[:80]!r}. A header "
            "line is not part of the format: remove it."
        ) from None


def format_rows(rows, formats: tuple[str, ...]) -> str:
    return "".join(
        ",".join(
            format(int(value) if spec == "d" else float(value), spec)
            for value, spec in zip(row, formats, strict=True)
        )
        + "\n"
        for row in rows
    )


def write_tracks(file_path: str, rows) -> None:
    """rows: (frame, track, left, top, width, height, score)."""
    rows = [(*row, -1, -1, -1) for row in rows]
    write_atomically(file_path, format_rows(rows, BOX_ROW_FORMATS))


def write_detections(file_path: str, rows) -> None:
    """rows: (frame, left, top, width, height, score)."""
    rows = [(row[0], -1, *row[1:], -1, -1, -1) for row in rows]
    write_atomically(file_path, format_rows(rows, BOX_ROW_FORMATS))


def write_ground_truth(file_path: str, rows) -> None:
    """rows: (frame, identity, left, top, width, height, visibility)."""
    rows = [(*row[:6], 1, 1, row[6]) for row in rows]
    formats = ("d", "d", ".0f", ".0f", ".0f", ".0f", "d", "d", ".4f")
    write_atomically(file_path, format_rows(rows, formats))
