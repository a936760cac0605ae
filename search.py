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
as one, and a search killed while doing so is finished by the next. This file reads the flags
and wires the parts of image_search/ together: images.py (which images), models.py (the model
and its runtime), calibration.py (the "same person?" mark), gallery_cache.py, results_page.py
(what is written, and how), accuracy.py.

TensorFlow is imported only for a Keras weights file, once the flags are parsed (applications,
inside the functions that build and run the model), so --help and a misspelt flag answer at once.
"""

import command_line  # noqa: I001  (first: a Python without the project's packages is told what to do)

import contextlib
import os
import sys

from absl import app, flags, logging

import evaluation
from atomic_files import InUseError, WriteError
from deployment import ThresholdError
from deployment.onnx_model import OnnxModelError
from image_search import (
    SamePersonMarks,
    SearchError,
    cached_gallery_features,
    calibration_thresholds,
    chosen_threshold,
    load_search_model,
    read_images,
    readable_only,
    same_person_note,
    take_output_folder,
    write_results,
)

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


def main(argv):
    del argv
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
    try:
        search()
    except (SearchError, OnnxModelError, ThresholdError, WriteError, InUseError) as error:
        sys.exit(f"\nError: {error}")
    except KeyboardInterrupt:
        print(
            "\nStopped by Ctrl-C. The output folder keeps what an earlier search put there, "
            "or its index.html says that this search's results were being put in place, which "
            "the next search into the folder finishes first.",
            flush=True,
        )
        sys.exit(130)


def search() -> None:
    """Take the output folder, finish what a killed search left in it, then search."""
    for name in ("model_file_path", "query_path", "gallery_path"):
        if not FLAGS[name].value:
            raise SearchError(f"--{name} is needed; see python3 search.py --help.")
        if name != "model_file_path" and not os.path.exists(FLAGS[name].value):
            raise SearchError(  # before an output folder is made (the model's loader explains)
                f"--{name} {FLAGS[name].value!r} does not exist; see python3 search.py --help "
                "for what it takes."
            )
    made_output_folder = not os.path.exists(FLAGS.output_folder_path)
    lock = take_output_folder(FLAGS.output_folder_path)
    finished = False
    try:
        search_into_taken_folder()
        finished = True
    finally:
        lock.release()
        if made_output_folder and not finished:
            with contextlib.suppress(OSError):  # only if empty: it was made for this search
                os.rmdir(FLAGS.output_folder_path)


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
    model = load_search_model(FLAGS.model_file_path, workers=FLAGS.workers)
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
    same_person = chosen_threshold(
        thresholds, false_positive_rate=FLAGS.same_person_false_positive_rate
    )
    print("Reading the query and gallery images", flush=True)
    queries = readable_only(
        read_images(FLAGS.query_path, role="query", output_folder_path=FLAGS.output_folder_path),
        role="query",
        workers=FLAGS.workers,
    )
    gallery = readable_only(
        read_images(
            FLAGS.gallery_path, role="gallery", output_folder_path=FLAGS.output_folder_path
        ),
        role="gallery",
        workers=FLAGS.workers,
    )
    flipping = FLAGS.use_horizontal_flipping_in_evaluation
    if flipping is None:
        flipping = model.flipping_default
    gallery_features = cached_gallery_features(
        lambda paths: model.extract(paths, flipping),
        gallery,
        flipping=flipping,
        model_file_path=FLAGS.model_file_path,
        output_folder_path=FLAGS.output_folder_path,
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
        same_person_note=same_person_note(
            thresholds, same_person, flipping=flipping, re_ranked=FLAGS.use_re_ranking
        ),
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
    write_results(
        queries,
        gallery,
        distances,
        described=described,
        accepted=accepted,
        output_folder=FLAGS.output_folder_path,
        top_k=FLAGS.top_k,
        exclude_same_camera=FLAGS.exclude_same_camera,
    )
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


if __name__ == "__main__":
    app.run(main, flags_parser=command_line.parse_flags)
