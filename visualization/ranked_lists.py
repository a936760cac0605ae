"""Ranked lists to look at: a query beside its top k gallery images, and one HTML page that
shows them all. Imports no TensorFlow.

    picture = draw_ranked_list(query_path, gallery_paths, distances, matches=[True, False, ...])
    write_picture("ranked_lists/0001.png", picture)
    write_index_html("index.html", [RankedListPage(title, "ranked_lists/0001.png", caption)])"""

import html
import os
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from atomic_files import atomic_output, write_atomically

THUMBNAIL_SIZE = (128, 64)  # height, width of each image in a picture


BORDER = 4


CAPTION_HEIGHT = 30


GAP = 12  # between the query and its ranked list


COLORS = {  # RGB
    True: (40, 170, 60),  # a true match: green
    False: (210, 40, 40),  # another identity: red
    None: (150, 150, 150),  # identities unknown: gray
    "query": (40, 90, 210),  # blue
    "same person": (250, 210, 0),  # the dot of a match a "same person?" threshold accepts
}
SAME_PERSON_RADIUS = 5


def thumbnail(image_file_path: str, color: tuple[int, int, int]) -> np.ndarray:
    """The image resized to THUMBNAIL_SIZE inside a border of `color`; an unreadable file shows
    as a gray box."""
    height, width = THUMBNAIL_SIZE
    image = cv2.imread(image_file_path, cv2.IMREAD_COLOR)
    if image is None:
        image = np.full((height, width, 3), 200, np.uint8)
    else:
        image = cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), (width, height))
    framed = np.empty((height + 2 * BORDER, width + 2 * BORDER, 3), np.uint8)
    framed[...] = color
    framed[BORDER:-BORDER, BORDER:-BORDER] = image
    return framed


def with_caption(framed: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    captioned = np.full((framed.shape[0] + CAPTION_HEIGHT, framed.shape[1], 3), 255, np.uint8)
    captioned[: framed.shape[0]] = framed
    for index, line in enumerate(lines):
        cv2.putText(
            captioned,
            line,
            (2, framed.shape[0] + 12 + 13 * index),
            cv2.FONT_HERSHEY_SIMPLEX,
            fontScale=0.36,
            color=(0, 0, 0),
            thickness=1,
            lineType=cv2.LINE_AA,
        )
    return captioned


def draw_ranked_list(
    query_image_file_path: str,
    gallery_image_file_paths: Sequence[str],
    distances: Sequence[float],
    *,
    matches: Sequence[bool | None],
    query_camera=None,
    cameras: Sequence | None = None,
    same_person: Sequence[bool] | None = None,
) -> np.ndarray:
    """(H, W, 3) uint8 RGB: the query (blue border, its camera under it where known), then the
    gallery images in rank order with their rank, distance and (where known) camera, bordered
    green for the query's identity, red for another, gray where identities are unknown.
    Distances get as many decimals as it takes to tell neighbouring ranks apart. same_person:
    the images a "same person?" threshold accepts get a yellow dot in their top right corner."""
    query_lines = ["query"] + ([f"cam {query_camera}"] if is_known(query_camera) else [])
    tiles = [with_caption(thumbnail(query_image_file_path, COLORS["query"]), query_lines)]
    spacer = np.full((tiles[0].shape[0], GAP, 3), 255, np.uint8)
    tiles.append(spacer)
    cameras = [None] * len(matches) if cameras is None else cameras
    same_person = [False] * len(matches) if same_person is None else same_person
    decimals = distance_decimals(distances)
    columns = (gallery_image_file_paths, distances, matches, cameras, same_person)
    for rank, (path, distance, match, camera, accepted) in enumerate(
        zip(*columns, strict=True), start=1
    ):
        first_line = f"{rank}  cam {camera}" if is_known(camera) else f"{rank}"
        framed = thumbnail(path, COLORS[match])
        if accepted:
            mark_same_person(framed)
        tiles.append(with_caption(framed, [first_line, f"{distance:.{decimals}f}"]))
    return np.concatenate(tiles, axis=1)


def mark_same_person(framed: np.ndarray) -> None:
    """A yellow dot, outlined in black, in the top right corner of a framed thumbnail."""
    centre = (framed.shape[1] - BORDER - SAME_PERSON_RADIUS - 2, BORDER + SAME_PERSON_RADIUS + 2)
    for radius, color in (
        (SAME_PERSON_RADIUS + 1, (0, 0, 0)),
        (SAME_PERSON_RADIUS, COLORS["same person"]),
    ):
        cv2.circle(framed, centre, radius, color, thickness=cv2.FILLED, lineType=cv2.LINE_AA)


def is_known(camera) -> bool:
    return camera is not None and camera == camera  # NaN: unknown


def distance_decimals(distances: Sequence[float], *, fewest: int = 4, most: int = 7) -> int:
    """Decimals (fewest to most) that print neighbouring distances differently wherever they
    differ at all within `most` decimals; 7 fit under a 64-pixel-wide thumbnail."""
    values = np.asarray(distances, dtype=np.float64)
    apart = np.round(values, most)
    for decimals in range(fewest, most + 1):
        printed = np.round(values, decimals)
        if np.all((printed[1:] != printed[:-1]) | (apart[1:] == apart[:-1])):
            return decimals
    return most


def write_picture(file_path: str, picture: np.ndarray) -> None:
    """An RGB picture as a PNG file, written atomically."""
    with atomic_output(file_path) as temporary_path:
        if not cv2.imwrite(temporary_path, cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)):
            raise OSError(f"Cannot write the picture {file_path!r}.")


@dataclass(frozen=True)
class RankedListPage:
    title: str
    picture_path: str  # relative to the HTML file
    caption: str = ""


def write_index_html(
    file_path: str,
    entries: Sequence[RankedListPage],
    *,
    heading: str,
    notes: Sequence[str] = (),
    marks_same_person: bool = False,
) -> None:
    """One page showing every picture, in order, with its title and caption; `notes` (what was
    searched, how) come first; marks_same_person: the legend explains the yellow dots."""
    sections = [
        f"<h2>{html.escape(entry.title)}</h2>\n<p>{html.escape(entry.caption)}</p>\n"
        f'<img src="{html.escape(entry.picture_path)}" alt="{html.escape(entry.title)}">'
        for entry in entries
    ]
    page = (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(heading)}</title>\n"
        "<style>body { font-family: sans-serif; } img { image-rendering: pixelated; }</style>\n"
        f"</head>\n<body>\n<h1>{html.escape(heading)}</h1>\n"
        + "".join(f"<p>{html.escape(note)}</p>\n" for note in notes)
        + "<p>Blue: the query. Green: the query's identity. Red: another identity. Gray: "
        "identity unknown. "
        + ("A yellow dot: accepted as the same person (see above). " if marks_same_person else "")
        + "Under each image: its rank, its camera (where known) and its distance to the "
        "query.</p>\n" + "\n".join(sections) + "\n</body>\n</html>\n"
    )
    write_atomically(file_path, page)


def relative_path(path: str, start: str) -> str:
    return os.path.relpath(path, start).replace(os.sep, "/")
