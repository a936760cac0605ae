"""Which images a search reads: an image, a folder (with its subfolders) or a CSV of the
project's format, with identities and cameras from the file names where they follow Market1501's
or MSMT17's grammar, and only those OpenCV can decode. Imports no TensorFlow."""

import os
import re
from dataclasses import dataclass

import pandas as pd

from datasets.common import IMAGE_EXTENSIONS
from datasets.image_files import find_readable_images

from .errors import SearchError

# Identity and camera from Market1501-style file names (0002_c1s1_000451_03.jpg) and MSMT17's
# (0000_000_01_0303morning_0015_0.jpg: identity, index, camera).
MARKET_FILE_NAME = re.compile(r"^(?P<identity_ID>-1|\d+)_c(?P<camera_ID>\d+)")
MSMT17_FILE_NAME = re.compile(r"^(?P<identity_ID>\d+)_\d+_(?P<camera_ID>\d+)_")


@dataclass(frozen=True)
class Images:
    """Image files and, where known, their identities and cameras (None where unknown)."""

    paths: list[str]
    identity_IDs: list
    camera_IDs: list


def read_images(path: str, *, role: str, output_folder_path: str) -> Images:
    """An image file, a folder of images (its subfolders too, as MSMT17's <identity>/ folders;
    other files skipped with one warning), or a CSV of the project's format (for a CSV with a
    split column, the rows of split `role`); the search's own output folder is never read."""
    if path.lower().endswith(".csv"):
        return read_csv_images(path, role=role)
    if os.path.isdir(path):
        names = sorted(files_under(path, output_folder_path=output_folder_path))
        image_names = [name for name in names if name.lower().endswith(IMAGE_EXTENSIONS)]
        skipped = [name for name in names if not name.lower().endswith(IMAGE_EXTENSIONS)]
        if skipped:
            listed = ", ".join(skipped[:10]) + (" ..." if len(skipped) > 10 else "")
            print(
                f"Warning: {len(skipped)} files in the {role} folder {path!r} are not images "
                f"({', '.join(IMAGE_EXTENSIONS)}) and are skipped: {listed}",
                flush=True,
            )
        paths = [os.path.join(path, name) for name in image_names]
    elif os.path.isfile(path):
        paths = [path]
    else:
        raise SearchError(f"The {role} path {path!r} does not exist.")
    if not paths:
        raise SearchError(
            f"The {role} folder {path!r} holds no images (files ending in "
            f"{', '.join(IMAGE_EXTENSIONS)}). Point --{role}_path at "
            + (
                "a folder of images, an image, or a CSV file."
                if role == "query"
                else "a folder of images or a CSV file."
            )
        )
    labels = [identity_and_camera(os.path.basename(image_path)) for image_path in paths]
    return Images(
        paths=paths,
        identity_IDs=[identity for identity, _ in labels],
        camera_IDs=[camera for _, camera in labels],
    )


def files_under(folder_path: str, *, output_folder_path: str) -> list[str]:
    """Paths relative to folder_path of the files in it and its subfolders, except hidden
    folders and this search's own output folder (whose pictures are no gallery images)."""
    output_folder = os.path.abspath(output_folder_path)
    found = []
    for folder, subfolders, file_names in os.walk(folder_path):
        subfolders[:] = [
            name
            for name in subfolders
            if not name.startswith(".")
            and os.path.abspath(os.path.join(folder, name)) != output_folder
        ]
        found += [os.path.relpath(os.path.join(folder, name), folder_path) for name in file_names]
    return found


def identity_and_camera(file_name: str) -> tuple[int | None, int | None]:
    """From a file name in the grammar of Market1501, DukeMTMC-reID and CUHK03-NP
    (0002_c1s1_000451_03.jpg, 0001_c1_1.png) or MSMT17's (0000_000_01_0303morning_0015_0.jpg:
    identity, index, camera); (None, None) for other names."""
    match = MARKET_FILE_NAME.match(file_name) or MSMT17_FILE_NAME.match(file_name)
    if match is None:
        return None, None
    return int(match["identity_ID"]), int(match["camera_ID"])


def readable_only(images: Images, *, role: str, workers: int) -> Images:
    """The images OpenCV can decode, as training reads them; the others are left out with one
    warning."""
    readable = find_readable_images(images.paths, workers=workers)
    if readable.all():
        return images
    left_out = [path for path, ok in zip(images.paths, readable, strict=True) if not ok]
    print(
        f"Warning: {len(left_out)} {role} images cannot be read and are left out: "
        f"{', '.join(left_out[:5])}{' ...' if len(left_out) > 5 else ''}",
        flush=True,
    )
    if not readable.any():
        raise SearchError(f"None of the {role} images can be read.")
    return Images(
        paths=[value for value, ok in zip(images.paths, readable, strict=True) if ok],
        identity_IDs=[value for value, ok in zip(images.identity_IDs, readable, strict=True) if ok],
        camera_IDs=[value for value, ok in zip(images.camera_IDs, readable, strict=True) if ok],
    )


def read_csv_images(csv_file_path: str, *, role: str) -> Images:
    if not os.path.isfile(csv_file_path):
        raise SearchError(f"The {role} CSV file {csv_file_path!r} does not exist.")
    frame = pd.read_csv(csv_file_path)
    if "image_file_path" not in frame.columns:
        raise SearchError(
            f"The {role} CSV file {csv_file_path!r} has no image_file_path column (found "
            f"{list(frame.columns)}); expected the columns image_file_path and, optionally, "
            "identity_ID, camera_ID and split."
        )
    if "split" in frame.columns:
        frame = frame[frame["split"].astype(str).str.strip().str.lower() == role]
    if frame.empty:
        raise SearchError(f"The {role} CSV file {csv_file_path!r} lists no {role} images.")
    folder_path = os.path.dirname(os.path.abspath(csv_file_path))
    paths = [os.path.normpath(os.path.join(folder_path, str(p))) for p in frame["image_file_path"]]

    def column(name):
        return frame[name].tolist() if name in frame.columns else [None] * len(frame)

    return Images(paths=paths, identity_IDs=column("identity_ID"), camera_IDs=column("camera_ID"))
