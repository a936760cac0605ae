"""What a search writes into its output folder, and how: ranked_lists.csv, a picture per query
under ranked_lists/ and index.html, put in place of the previous search's as one (finish_swap);
one search at a time per folder (take_output_folder)."""

import os
import re
import shutil

import numpy as np
import pandas as pd

import visualization
from atomic_files import (
    WriterLock,
    atomic_folder,
    raise_explained,
    remove_leftovers_of,
    write_atomically,
)
from crash_points import crash_point

from .accuracy import search_accuracy
from .calibration import SamePersonMarks
from .errors import SearchError
from .images import Images

# What a search writes into its output folder (under temporary names first), and its lock.
RANKED_LISTS_FOLDER, RANKED_LISTS_CSV, INDEX_HTML = "ranked_lists", "ranked_lists.csv", "index.html"
GALLERY_CACHE_NAME = re.compile(r"^gallery_features_[0-9a-f]{16}\.npz$")
LOCK_FILE_NAME = ".search.lock"


def take_output_folder(folder_path: str) -> WriterLock:
    """The output folder's lock (one search at a time writes a folder), the temporary files of
    its killed writes removed, and a swap of results that a killed search began, finished."""
    try:
        os.makedirs(folder_path, exist_ok=True)
    except OSError as error:
        raise_explained(error, os.path.join(folder_path, INDEX_HTML))
    if not os.path.isdir(folder_path):
        raise SearchError(f"--output_folder_path {folder_path!r} is a file, not a folder.")
    lock = WriterLock.acquire(
        os.path.join(folder_path, LOCK_FILE_NAME),
        what=f"The output folder {folder_path}",
        advice="Two searches into one folder would mix their ranked lists, so this one stops "
        "without changing anything. Wait for that search to end (or stop it), or choose another "
        "--output_folder_path.",
        flag="--output_folder_path",
    )
    removed = remove_leftovers_of(folder_path, is_search_file)
    if removed:
        print(
            f"Removed {len(removed)} temporary file(s) that an interrupted search left: "
            + ", ".join(os.path.basename(path) for path in removed),
            flush=True,
        )
    finish_swap(folder_path)
    return lock


def is_search_file(name: str) -> bool:
    """Whether a file or folder of this name in the output folder is one a search writes."""
    return name in (RANKED_LISTS_CSV, INDEX_HTML, f"{RANKED_LISTS_FOLDER}.new") or bool(
        GALLERY_CACHE_NAME.match(name)
    )


def write_results(
    queries: Images,
    gallery: Images,
    distances: np.ndarray,
    *,
    described: list[str],
    accepted: SamePersonMarks | None,
    output_folder: str,
    top_k: int,
    exclude_same_camera: bool,
) -> None:
    """ranked_lists.csv, a picture per query under ranked_lists/ and index.html, which states
    what was searched how (`described`), written together into ranked_lists.new and put in place
    of the previous search's as one (finish_swap); with `accepted`, each listed match's "same
    person?" answer (a column, a yellow dot). Each query's top_k gallery images, those of its
    identity seen by its camera left out with exclude_same_camera. Prints rank-1 and mAP where
    the identities are known."""
    print(f"Drawing {len(queries.paths):,} ranked lists", flush=True)
    gallery_identities = np.array(gallery.identity_IDs, dtype=object)
    gallery_cameras = np.array(gallery.camera_IDs, dtype=object)
    rows, pages, pictures = [], [], []
    for index, query_path in enumerate(queries.paths):
        identity, camera = queries.identity_IDs[index], queries.camera_IDs[index]
        candidates = np.arange(len(gallery.paths))
        if exclude_same_camera and identity is not None and camera is not None:
            candidates = candidates[
                ~((gallery_identities == identity) & (gallery_cameras == camera))
            ]
        order = candidates[np.argsort(distances[index, candidates], kind="stable")][:top_k]
        matches = [
            None
            if identity is None or gallery_identities[g] is None
            else bool(gallery_identities[g] == identity)
            for g in order
        ]
        same_person = None if accepted is None else accepted.accepted[index, order].tolist()
        for rank, (gallery_index, match) in enumerate(zip(order, matches, strict=True), start=1):
            row = {
                "query_image_file_path": query_path,
                "rank": rank,
                "gallery_image_file_path": gallery.paths[gallery_index],
                "distance": float(distances[index, gallery_index]),
                "match": "" if match is None else match,
            }
            if accepted is not None:
                row[accepted.column_name] = same_person[rank - 1]
            rows.append(row)
        picture_name = f"{index + 1:04d}_{os.path.splitext(os.path.basename(query_path))[0]}.png"
        pictures.append(
            (
                picture_name,
                visualization.draw_ranked_list(
                    query_path,
                    [gallery.paths[g] for g in order],
                    distances[index, order],
                    matches=matches,
                    query_camera=camera,
                    cameras=[gallery_cameras[g] for g in order],
                    same_person=same_person,
                ),
            )
        )
        pages.append(
            visualization.RankedListPage(
                os.path.basename(query_path), f"ranked_lists/{picture_name}", query_path
            )
        )
    accuracy = search_accuracy(queries, gallery, distances, exclude_same_camera=exclude_same_camera)
    with atomic_folder(os.path.join(output_folder, f"{RANKED_LISTS_FOLDER}.new")) as new_folder:
        for picture_name, picture in pictures:
            visualization.write_picture(os.path.join(new_folder, picture_name), picture)
        write_atomically(
            os.path.join(new_folder, f".{RANKED_LISTS_CSV}"), pd.DataFrame(rows).to_csv(index=False)
        )
        visualization.write_index_html(
            os.path.join(new_folder, f".{INDEX_HTML}"),
            pages,
            heading=f"{len(queries.paths)} queries against {len(gallery.paths)} gallery images",
            notes=[*described, *([accuracy] if accuracy else [])],
            marks_same_person=accepted is not None,
        )
    finish_swap(output_folder)
    if accuracy:
        print(accuracy)
    print(
        f"Ranked lists of {len(queries.paths)} queries: "
        f"{os.path.join(output_folder, RANKED_LISTS_CSV)} and "
        f"{os.path.join(output_folder, INDEX_HTML)}"
    )


INTERRUPTED_PAGE = """<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>An unfinished search</title></head>
<body>
<h1>A search into this folder was interrupted while it put its results in place</h1>
<p>Until it is finished, ranked_lists.csv and the pictures in ranked_lists/ may come from two
different searches. Run the same search.py command again: it finishes putting them in place
first.</p>
</body>
</html>
"""


def finish_swap(output_folder: str) -> None:
    """Put the results of a search in place as one: ranked_lists.new (whole: atomic_folder
    renames it only once complete) holds the pictures, and the search's ranked_lists.csv and
    index.html under hidden names. First index.html says that a swap is under way, then the
    folders are swapped, then ranked_lists.csv and index.html are moved out: a crash at any step
    leaves either one search's files or that page, and the next call finishes the steps left."""
    folder_path = os.path.join(output_folder, RANKED_LISTS_FOLDER)
    new_folder_path, old_folder_path = folder_path + ".new", folder_path + ".old"
    if os.path.isdir(new_folder_path):
        crash_point("search swap begins")
        write_atomically(os.path.join(output_folder, INDEX_HTML), INTERRUPTED_PAGE)
        shutil.rmtree(old_folder_path, ignore_errors=True)
        if os.path.isdir(folder_path):
            os.rename(folder_path, old_folder_path)
            crash_point("search swap renamed old folder")
        os.rename(new_folder_path, folder_path)
        crash_point("search swap renamed new folder")
    staged_csv = os.path.join(folder_path, f".{RANKED_LISTS_CSV}")
    if os.path.isfile(staged_csv):
        os.replace(staged_csv, os.path.join(output_folder, RANKED_LISTS_CSV))
        crash_point("search swap renamed csv")
    staged_index = os.path.join(folder_path, f".{INDEX_HTML}")
    if os.path.isfile(staged_index):
        os.replace(staged_index, os.path.join(output_folder, INDEX_HTML))
        crash_point("search swap renamed index")
    shutil.rmtree(old_folder_path, ignore_errors=True)
