r"""Search a gallery with a trained model: your own images, ranked lists to look at, a SavedModel.

    python3 search.py --model_file_path output/Market1501_resnet50/inference_model.h5 \
        --query_path my_queries/ --gallery_path my_gallery/ --output_folder_path search_results

The model is either file training writes: inference_model.h5 (with the .json beside it) or
training_model.h5 (with its run's flags.txt beside it), or an ONNX model from export.py (with
its .json), which is run by ONNX Runtime without TensorFlow (requirements-onnx.txt is all it
needs). Queries are an image file, a folder (with its subfolders) or a CSV of the project's
format; the gallery is a folder or a CSV. Writes, into the output folder: ranked_lists.csv (each
query's top k with distances, and whether they match where identities are known: a CSV's
identity_ID column, or file names like Market1501's 0002_c1s1_000451_03.jpg or MSMT17's
0000_000_01_0303morning_0015_0.jpg), one picture per query under ranked_lists/, and index.html
that shows them all. The gallery's features are cached there and reused while the model and
the gallery files are unchanged. Where the model comes with "same person?" thresholds (those of
the evaluation its weights were chosen by), each listed match below the mark's threshold is
marked: a column of ranked_lists.csv, a yellow dot on its picture. The mark is chosen so that at
least 95% of the top-10 results it marked in that evaluation were the same person, and the page
gives its measured precision at each rank; --same_person_false_positive_rate marks by a
threshold over all pairs instead.

One search at a time writes an output folder (a lock in it); its three results are put in place
as one, and a search killed while doing so is finished by the next (finish_swap).

TensorFlow is imported only for a Keras weights file, once the flags are parsed (applications,
inside the functions that build and run the model), so --help and a misspelt flag answer at once.
"""

import command_line  # noqa: I001  (first: a Python without the project's packages is told what to do)

import hashlib
import io
import json
import os
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from absl import app, flags, logging

import evaluation
import visualization
from atomic_files import (
    InUseError,
    WriteError,
    WriterLock,
    atomic_folder,
    raise_explained,
    remove_leftovers_of,
    write_atomically,
)
from crash_points import crash_point
from datasets.common import IMAGE_EXTENSIONS
from datasets.image_files import find_readable_images
from deployment import SamePersonThresholds, ThresholdError, thresholds_of_run_folder
from deployment.onnx_model import OnnxModel, OnnxModelError

FLAGS = flags.FLAGS
flags.DEFINE_string(
    "model_file_path",
    None,
    "inference_model.h5 (with its .json), training_model.h5, or model.onnx (with its .json) "
    "from export.py.",
)
flags.DEFINE_string("query_path", None, "An image, a folder of images, or a CSV file.")
flags.DEFINE_string("gallery_path", None, "A folder of images, or a CSV file.")
flags.DEFINE_string("output_folder_path", "./search_results", "Where the results go.")
flags.DEFINE_integer("top_k", 10, "Gallery images listed for each query.", lower_bound=1)
flags.DEFINE_bool(
    "use_horizontal_flipping_in_evaluation",
    None,
    "Embedding = mean of the image's and its mirror's (default: when the model was trained "
    "with --use_horizontal_flipping_inside_model).",
)
flags.DEFINE_bool("use_re_ranking", False, "k-reciprocal re-ranking (Zhong et al., CVPR 2017).")
flags.DEFINE_bool(
    "exclude_same_camera",
    True,
    "Leave out gallery images of the query's identity and camera, as the ReID protocol does "
    "(only where both are known).",
)
flags.DEFINE_float(
    "same_person_false_positive_rate",
    None,
    "Mark the matches below the model's threshold at this false positive rate over all pairs "
    "(one of those its description keeps: 0.01, 0.001, 0.0001) instead of the default mark, "
    "chosen so that at least 95% of the top-10 results it marked in the evaluation were the "
    "same person.",
)
flags.DEFINE_string(
    "same_person_calibration_path",
    None,
    'A run folder whose evaluation gives the "same person?" thresholds instead of the model\'s '
    "own: an --evaluation_only run of this model on labelled images of your cameras (a CSV "
    "dataset), e.g. ./evaluation_only/CSV_resnet50.",
)
flags.DEFINE_integer("image_height", None, "Must be the model's input height, if given.")
flags.DEFINE_integer("image_width", None, "Must be the model's input width, if given.")
flags.DEFINE_integer("workers", 5, "Parallel image decoding calls.", lower_bound=1)
flags.DEFINE_string(
    "export_saved_model_path",
    "",
    "Also write the inference model as a TensorFlow SavedModel into this (new) folder.",
)
# Identity and camera from Market1501-style file names (0002_c1s1_000451_03.jpg) and MSMT17's
# (0000_000_01_0303morning_0015_0.jpg: identity, index, camera).
MARKET_FILE_NAME = re.compile(r"^(?P<identity_ID>-1|\d+)_c(?P<camera_ID>\d+)")
MSMT17_FILE_NAME = re.compile(r"^(?P<identity_ID>\d+)_\d+_(?P<camera_ID>\d+)_")
# What a search writes into its output folder (under temporary names first), and its lock.
RANKED_LISTS_FOLDER, RANKED_LISTS_CSV, INDEX_HTML = "ranked_lists", "ranked_lists.csv", "index.html"
GALLERY_CACHE_NAME = re.compile(r"^gallery_features_[0-9a-f]{16}\.npz$")
LOCK_FILE_NAME = ".search.lock"


class SearchError(Exception):
    """A model, folder or file that cannot be used; the message says what to do."""


@dataclass(frozen=True)
class Images:
    """Image files and, where known, their identities and cameras (None where unknown)."""

    paths: list[str]
    identity_IDs: list
    camera_IDs: list


@dataclass
class SearchModel:
    """A model to search with, whichever runtime runs it."""

    name: str  # for the notes: "resnet18, 64x32" and the runtime
    image_height: int
    image_width: int
    flipping_default: bool  # whether embeddings are averaged with the mirror's by default
    extract: Callable[[list[str], bool], np.ndarray]  # (paths, flipping) -> features
    thresholds: SamePersonThresholds | None
    keras_model: object = None  # the Keras inference model (None for ONNX)


def main(argv):
    del argv
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
    try:
        search()
    except (SearchError, OnnxModelError, ThresholdError, WriteError, InUseError) as error:
        sys.exit(f"\nError: {error}")


def search() -> None:
    """Take the output folder, finish what a killed search left in it, then search."""
    for name in ("model_file_path", "query_path", "gallery_path"):
        if not FLAGS[name].value:
            raise SearchError(f"--{name} is needed; see python3 search.py --help.")
    lock = take_output_folder(FLAGS.output_folder_path)
    try:
        search_into_taken_folder()
    finally:
        lock.release()


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


def search_into_taken_folder() -> None:
    print(
        f"Loading the model {FLAGS.model_file_path} ("
        + (
            "ONNX Runtime"
            if FLAGS.model_file_path.lower().endswith(".onnx")
            else "TensorFlow: importing it takes several seconds"
        )
        + ")",
        flush=True,
    )
    model = load_search_model(FLAGS.model_file_path)
    for name, value in (("image_height", model.image_height), ("image_width", model.image_width)):
        if FLAGS[name].value is not None and FLAGS[name].value != value:
            raise SearchError(
                f"--{name} {FLAGS[name].value} does not match the model, which was built for "
                f"{model.image_height}x{model.image_width} images (images of any size are "
                f"resized to that). Leave --{name} out, or use a model built for your size."
            )
    thresholds = model.thresholds
    if FLAGS.same_person_calibration_path:
        thresholds = calibration_thresholds(FLAGS.same_person_calibration_path)
    same_person = chosen_threshold(thresholds)
    print("Reading the query and gallery images", flush=True)
    queries = readable_only(read_images(FLAGS.query_path, role="query"), role="query")
    gallery = readable_only(read_images(FLAGS.gallery_path, role="gallery"), role="gallery")
    flipping = FLAGS.use_horizontal_flipping_in_evaluation
    if flipping is None:
        flipping = model.flipping_default
    gallery_features = cached_gallery_features(
        lambda paths: model.extract(paths, flipping), gallery, flipping=flipping
    )
    print(f"Embedding {len(queries.paths):,} query images", flush=True)
    query_features = model.extract(queries.paths, flipping)
    cosine_distances = evaluation.compute_distance_matrix(query_features, gallery_features)
    distances = cosine_distances
    if FLAGS.use_re_ranking:
        print("Re-ranking", flush=True)
        distances = evaluation.re_ranking_from_features(query_features, gallery_features)
    described = describe_search(
        model,
        queries,
        gallery,
        flipping=flipping,
        same_person_note=same_person_note(thresholds, same_person, flipping=flipping),
    )
    print(described[-1], flush=True)
    if all(camera is None for camera in gallery.camera_IDs):
        print(
            "Caution: the gallery images have no cameras, so no image of a query's identity is "
            "left out for being seen by the query's camera; rank-1 and mAP are higher than "
            "under the Market-1501 protocol.",
            flush=True,
        )
    accepted = None
    if same_person is not None:
        accepted = SamePersonMarks(
            thresholds.mark_name(same_person[0]), cosine_distances < same_person[1]
        )
    write_results(queries, gallery, distances, described=described, accepted=accepted)
    if FLAGS.export_saved_model_path:
        if model.keras_model is None:
            raise SearchError(
                "--export_saved_model_path needs a Keras weights file (an ONNX model is "
                "already exported); use export.py with the run's inference_model.h5."
            )
        import applications

        applications.export_saved_model(model.keras_model, FLAGS.export_saved_model_path)
        print(f"SavedModel written to {FLAGS.export_saved_model_path}")


def describe_search(model, queries, gallery, *, flipping: bool, same_person_note: str) -> list[str]:
    """What was searched how, for index.html; the last line (same_person_note) says where the
    same-person marks come from."""
    return [
        f"Model: {FLAGS.model_file_path} ({model.name})",
        f"Gallery: {FLAGS.gallery_path} ({len(gallery.paths)} images); queries: "
        f"{FLAGS.query_path} ({len(queries.paths)})",
        "Distances: "
        + ("k-reciprocal re-ranking" if FLAGS.use_re_ranking else "cosine, without re-ranking")
        + ("; embeddings averaged with the mirror's" if flipping else "; no flip averaging")
        + (
            "; images of the query's identity taken by the query's camera left out, as the ReID "
            "protocol does (its other cameras' images stay)"
            if FLAGS.exclude_same_camera
            else ""
        ),
        same_person_note,
    ]


def load_search_model(model_file_path: str) -> SearchModel:
    """An ONNX model (.onnx, run by ONNX Runtime) or a Keras weights file (TensorFlow)."""
    if model_file_path.lower().endswith(".onnx"):
        onnx_model = OnnxModel(model_file_path)
        description = onnx_model.description
        return SearchModel(
            name=f"{description.get('backbone_model_name', 'a model')}, {onnx_model.image_height}x"
            f"{onnx_model.image_width}, ONNX Runtime",
            image_height=onnx_model.image_height,
            image_width=onnx_model.image_width,
            flipping_default=onnx_model.flip_averaged,
            extract=lambda paths, flipping: onnx_model.extract_features(
                paths, use_horizontal_flipping=flipping, workers=FLAGS.workers
            ),
            thresholds=SamePersonThresholds.from_description(description),
        )
    return load_keras_search_model(model_file_path)


def load_keras_search_model(model_file_path: str) -> SearchModel:
    command_line.require_tensorflow(
        "a Keras weights file needs TensorFlow; an ONNX model from export.py needs only "
        "requirements-onnx.txt"
    )
    import applications  # TensorFlow is imported here

    if not os.path.isfile(model_file_path):
        raise SearchError(f"--model_file_path {model_file_path!r} does not exist.")
    try:
        inference_model, settings = applications.inference_model_of_file(model_file_path)
        thresholds = applications.same_person_thresholds_of_file(model_file_path)
    except applications.WeightsFileError as error:
        raise SearchError(str(error)) from error
    except ThresholdError as error:
        raise SearchError(
            f'The "same person?" thresholds of {model_file_path!r} are damaged: {error}. Put '
            "back the .json that training wrote beside it, or give another model."
        ) from None
    extractors = {}

    def extract(paths: list[str], flipping: bool) -> np.ndarray:
        if flipping not in extractors:
            extractors[flipping] = applications.FeatureExtractor(
                inference_model, use_horizontal_flipping=flipping, workers=FLAGS.workers
            )
        return extractors[flipping](paths)

    return SearchModel(
        name=f"{settings.backbone_model_name}, {settings.image_height}x{settings.image_width}",
        image_height=settings.image_height,
        image_width=settings.image_width,
        flipping_default=settings.use_horizontal_flipping_inside_model,
        extract=extract,
        thresholds=thresholds,
        keras_model=inference_model,
    )


@dataclass(frozen=True)
class SamePersonMarks:
    column_name: str  # of ranked_lists.csv: same_person_top10_mark, same_person_at_FPR_1e-3
    accepted: np.ndarray  # (queries, gallery) bool: plain cosine distance below the threshold


def calibration_thresholds(folder_path: str) -> SamePersonThresholds:
    """The thresholds of the evaluation in a run folder (--same_person_calibration_path)."""
    if not os.path.isdir(folder_path):
        raise SearchError(
            f"--same_person_calibration_path {folder_path!r} is not a folder; give the run folder "
            "of an evaluation (e.g. ./evaluation_only/CSV_resnet50, the folder its results.csv "
            "is in)."
        )
    try:
        thresholds = thresholds_of_run_folder(folder_path)
    except ThresholdError as error:
        raise SearchError(
            f"--same_person_calibration_path {folder_path!r} holds damaged results: {error}. Run "
            "the --evaluation_only command again into a new folder and pass that folder."
        ) from None
    if thresholds is None:
        raise SearchError(
            f'{folder_path!r} holds no evaluation with "same person?" thresholds (results.csv '
            "and results.json of this version); run solution.py --evaluation_only with this "
            "model on your labelled images, then pass its run folder."
        )
    return thresholds


def chosen_threshold(thresholds: SamePersonThresholds | None) -> tuple[str | None, float] | None:
    """(rate label, threshold) at --same_person_false_positive_rate, (None, the ranked-list
    mark's threshold) without it, or None without thresholds."""
    if thresholds is None:
        return None
    rate = FLAGS.same_person_false_positive_rate
    label = None if rate is None else evaluation.rate_label(rate)
    return label, thresholds.threshold_of(label)


def same_person_note(thresholds, same_person, *, flipping: bool) -> str:
    """Where the "same person?" marks come from, or why there are none."""
    if same_person is None:
        return (
            "Same person: this model comes without thresholds (a 2021 release checkpoint, or a "
            "run without a test set or from before they were kept), so no match is marked."
        )
    note = thresholds.explain(same_person[0])
    if FLAGS.use_re_ranking:
        note += " It is applied to the plain cosine distances, not the re-ranked ones."
    if thresholds.flip_averaged != flipping:
        note += (
            " Caution: that evaluation "
            + ("averaged" if thresholds.flip_averaged else "did not average")
            + " each embedding with its mirror's, this search "
            + ("does" if flipping else "does not")
            + ", so the rate holds only roughly."
        )
    return note


def read_images(path: str, *, role: str) -> Images:
    """An image file, a folder of images (its subfolders too, as MSMT17's <identity>/ folders;
    other files skipped with one warning), or a CSV of the project's format (for a CSV with a
    split column, the rows of split `role`)."""
    if path.lower().endswith(".csv"):
        return read_csv_images(path, role=role)
    if os.path.isdir(path):
        names = sorted(files_under(path))
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


def files_under(folder_path: str) -> list[str]:
    """Paths relative to folder_path of the files in it and its subfolders, except hidden
    folders and this search's own output folder (whose pictures are no gallery images)."""
    output_folder = os.path.abspath(FLAGS.output_folder_path)
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


def readable_only(images: Images, *, role: str) -> Images:
    """The images OpenCV can decode, as training reads them; the others are left out with one
    warning."""
    readable = find_readable_images(images.paths, workers=FLAGS.workers)
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


def cached_gallery_features(extract_features, gallery: Images, *, flipping: bool) -> np.ndarray:
    """The gallery's features, embedded once and kept beside the results under a key of the
    model file's content, the flipping, and each gallery file's path, size and time."""
    key = hashlib.sha1()
    with open(FLAGS.model_file_path, "rb") as model_file:
        for chunk in iter(lambda: model_file.read(2**20), b""):
            key.update(chunk)
    key.update(json.dumps({"flipping": flipping}).encode())
    for path in gallery.paths:
        status = os.stat(path)
        key.update(f"{path}\0{status.st_size}\0{status.st_mtime_ns}\n".encode())
    cache_path = os.path.join(
        FLAGS.output_folder_path, f"gallery_features_{key.hexdigest()[:16]}.npz"
    )
    if os.path.isfile(cache_path):
        try:
            with np.load(cache_path) as cached:
                features = cached["features"]
            if features.shape[0] != len(gallery.paths):
                raise ValueError(f"{features.shape[0]} rows for {len(gallery.paths)} images")
            print(f"Gallery features reused from {cache_path}")
            return features
        except Exception as error:  # a damaged .npz raises many kinds (BadZipFile, EOFError...)
            print(
                f"Warning: the gallery cache {cache_path} cannot be read ({type(error).__name__}: "
                f"{error}); the gallery's features are computed again and the cache rewritten.",
                flush=True,
            )
    print(f"Embedding {len(gallery.paths):,} gallery images", flush=True)
    features = extract_features(gallery.paths)
    content = io.BytesIO()
    np.savez(content, features=features, paths=np.array(gallery.paths))
    write_atomically(cache_path, content.getvalue())
    print(f"Embedded {len(gallery.paths)} gallery images; features cached in {cache_path}")
    return features


def write_results(
    queries: Images,
    gallery: Images,
    distances: np.ndarray,
    *,
    described: list[str],
    accepted: SamePersonMarks | None,
) -> None:
    """ranked_lists.csv, a picture per query under ranked_lists/ and index.html, which states
    what was searched how (`described`), written together into ranked_lists.new and put in place
    of the previous search's as one (finish_swap); with `accepted`, each listed match's "same
    person?" answer (a column, a yellow dot). Prints rank-1 and mAP where the identities are
    known."""
    print(f"Drawing {len(queries.paths):,} ranked lists", flush=True)
    gallery_identities = np.array(gallery.identity_IDs, dtype=object)
    gallery_cameras = np.array(gallery.camera_IDs, dtype=object)
    rows, pages, pictures = [], [], []
    for index, query_path in enumerate(queries.paths):
        identity, camera = queries.identity_IDs[index], queries.camera_IDs[index]
        candidates = np.arange(len(gallery.paths))
        if FLAGS.exclude_same_camera and identity is not None and camera is not None:
            candidates = candidates[
                ~((gallery_identities == identity) & (gallery_cameras == camera))
            ]
        order = candidates[np.argsort(distances[index, candidates], kind="stable")][: FLAGS.top_k]
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
    accuracy = search_accuracy(queries, gallery, distances)
    output_folder = FLAGS.output_folder_path
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


def search_accuracy(queries: Images, gallery: Images, distances: np.ndarray) -> str:
    """ "Rank-1 ... mAP ..." over the queries whose identity (and camera, for the protocol's
    same-camera rule) is known, as the evaluation computes them; "" when none is."""
    known = [
        index
        for index, (identity, camera) in enumerate(
            zip(queries.identity_IDs, queries.camera_IDs, strict=True)
        )
        if identity is not None and camera is not None
    ]
    gallery_known = [
        index
        for index, (identity, camera) in enumerate(
            zip(gallery.identity_IDs, gallery.camera_IDs, strict=True)
        )
        if identity is not None and camera is not None
    ]
    if not known or not gallery_known:
        return ""
    gallery_cameras = np.array([gallery.camera_IDs[i] for i in gallery_known])
    if not FLAGS.exclude_same_camera:  # then no image is left out for sharing the query's camera
        gallery_cameras = -1 - np.arange(len(gallery_cameras))
    metrics = evaluation.compute_ranking_metrics(
        distances[np.ix_(known, gallery_known)],
        q_pids=np.array([queries.identity_IDs[i] for i in known]),
        g_pids=np.array([gallery.identity_IDs[i] for i in gallery_known]),
        q_camids=np.array([queries.camera_IDs[i] for i in known]),
        g_camids=gallery_cameras,
    )
    if metrics.valid_query_num == 0:
        return ""
    return (
        f"Search accuracy over the {metrics.valid_query_num} queries with a known identity and "
        f"a true match: rank-1 {100 * metrics.cmc[0]:.1f}%, mAP {100 * metrics.mAP:.1f}%."
    )


if __name__ == "__main__":
    app.run(main, flags_parser=command_line.parse_flags)
