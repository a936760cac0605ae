r"""Export a trained model for deployment: ONNX (ranked by search.py with ONNX Runtime, no
TensorFlow needed) or a TensorFlow SavedModel.

    python3 export.py --model_file_path output/Market1501_resnet50/inference_model.h5 \
        --format onnx --output_path model.onnx

The model takes raw RGB pixels, (batch, H, W, 3) float32 in 0..255 at the model's input size,
any batch size, and gives "embeddings"; with flipping (by default when the model was trained
with --use_horizontal_flipping_inside_model, as search.py), the mean of the image's and its
mirror's embedding, FlipReID's test-time embedding, in the same call. Beside it goes a .json
(model.json for model.onnx, saved_model.json for a folder saved_model) with the input size,
whether the mirror is averaged inside, the architecture, and the "same person?" thresholds of the
evaluation the weights were chosen by. The export checks itself: it runs the exported model and
the Keras model on the same images and fails if they differ by more than the stated bound.
"""

import command_line  # noqa: I001  (first: a Python without the project's packages is told what to do)

import dataclasses
import json
import os
import shutil
import sys
import time

import numpy as np
from absl import app, flags, logging

from atomic_files import WriteError, write_atomically
from deployment.onnx_model import LAYOUTS, PIXELS, TRACKER

FLAGS = flags.FLAGS
flags.DEFINE_string(
    "model_file_path", None, "inference_model.h5 (with its .json) or training_model.h5."
)
flags.DEFINE_enum("format", "onnx", ["onnx", "saved_model"], "What to write.")
flags.DEFINE_enum(
    "layout",
    PIXELS,
    list(LAYOUTS),
    "The ONNX model's input. pixels: (batch, H, W, 3) RGB 0..255, normalised inside. tracker: "
    "what multi-object trackers' ReID backends feed (BoxMOT's ONNX backend): (batch, 3, H, W) "
    "RGB /255, minus the ImageNet mean, over its standard deviation, H and W fixed.",
)
flags.DEFINE_string(
    "output_path", None, "The .onnx file, or the (new) SavedModel folder, to write."
)
flags.DEFINE_string(
    "center_on_images_path",
    None,
    "A folder of person images (e.g. the training set's bounding_box_train): the mean of their "
    "embeddings is subtracted inside the export, so that cosine distances spread over 0..2 as "
    "trackers' appearance terms assume (StrongSORT, DeepOCSORT; docs/tracking.md). The "
    "description then carries no same-person thresholds, which are distances of the "
    "uncentred embeddings.",
)
flags.DEFINE_integer(
    "center_on_image_num",
    1000,
    "At most this many images of --center_on_images_path, evenly spaced in name order.",
)
flags.DEFINE_bool(
    "use_horizontal_flipping_in_evaluation",
    None,
    "Embedding = mean of the image's and its mirror's, inside the exported model (default: "
    "when the model was trained with --use_horizontal_flipping_inside_model).",
)


PIXEL_DESCRIPTIONS = {
    PIXELS: "RGB, 0..255, float32, (batch, image_height, image_width, 3)",
    TRACKER: "RGB, float32, (batch, 3, image_height, image_width), /255, minus input_mean, "
    "over input_std (ImageNet's), as trackers' ReID backends feed an ONNX model",
}


class ExportUsageError(Exception):
    """Flags or paths that cannot be used; the message says what to do."""


def main(argv):
    del argv
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
    import applications  # TensorFlow is imported here

    try:
        export()
    except (
        ExportUsageError,
        applications.ExportError,
        applications.WeightsFileError,
        WriteError,
    ) as error:
        sys.exit(f"\nError: {error}")


def export() -> None:
    """Export, check, and only then put the model and its description in place: an export
    that fails its check is removed, never left where a search would take it."""
    import applications

    output_path, description_path = checked_paths()
    inference_model, settings = applications.inference_model_of_file(FLAGS.model_file_path)
    flipping = FLAGS.use_horizontal_flipping_in_evaluation
    if flipping is None:
        flipping = settings.use_horizontal_flipping_inside_model
    folder_path, name = os.path.split(os.path.abspath(output_path))
    os.makedirs(folder_path, exist_ok=True)
    staging_path = os.path.join(folder_path, f".{name}.unchecked")
    remove_path(staging_path)  # what an interrupted export of this path left
    center, centering = None, {}
    if FLAGS.center_on_images_path:
        image_file_paths = centering_images(FLAGS.center_on_images_path)
        print(f"Centring: the mean embedding of {len(image_file_paths):,} images")
        center = applications.export.mean_embedding(
            inference_model, image_file_paths, flip_averaged=flipping
        )
        centering = {
            "centered_on": {
                "images_path": os.path.abspath(FLAGS.center_on_images_path),
                "image_num": len(image_file_paths),
            }
        }
    try:
        start = time.perf_counter()
        if FLAGS.format == "onnx":
            applications.export_onnx(
                inference_model,
                staging_path,
                flip_averaged=flipping,
                layout=FLAGS.layout,
                center=center,
            )
        else:
            applications.export_saved_model(inference_model, staging_path, flip_averaged=flipping)
        print(f"Exported in {time.perf_counter() - start:.1f} s")
        embedding_dimension = check_export(
            inference_model, staging_path, flip_averaged=flipping, center=center
        )
        thresholds = None
        if center is None:
            thresholds = applications.same_person_thresholds_of_file(FLAGS.model_file_path)
        description = {
            "format": FLAGS.format,
            "input": applications.export.INPUT_NAME,
            "output": applications.export.OUTPUT_NAME,
            "layout": FLAGS.layout,
            "pixels": PIXEL_DESCRIPTIONS[FLAGS.layout]
            + "; read with OpenCV and resized with cv2.resize's bilinear default, the aspect "
            "ratio not kept",
            "input_mean": list(applications.export.IMAGENET_MEAN),
            "input_std": list(applications.export.IMAGENET_STD),
            "flip_averaged": flipping,
            "embedding_dimension": embedding_dimension,
            "exported_from": os.path.abspath(FLAGS.model_file_path),
            **dataclasses.asdict(settings),
            **centering,
            **({} if thresholds is None else thresholds.to_description()),
        }
        write_atomically(description_path, json.dumps(description, indent=2) + "\n")
        os.rename(staging_path, output_path)
    finally:
        remove_path(staging_path)
    print(
        f"Written: {output_path} and its description {description_path}"
        + (
            f" (with the same-person thresholds of the evaluation on {thresholds.dataset})"
            if thresholds
            else " (no same-person thresholds: they are distances of uncentred embeddings)"
            if center is not None
            else " (no same-person thresholds: the weights file comes without them)"
        )
    )


def checked_paths() -> tuple[str, str]:
    """(the export's path, its description's path), both new."""
    for name in ("model_file_path", "output_path"):
        if not FLAGS[name].value:
            raise ExportUsageError(f"--{name} is needed; see python3 export.py --help.")
    output_path = FLAGS.output_path.rstrip("/")
    if FLAGS.center_on_images_path and FLAGS.format != "onnx":
        raise ExportUsageError("--center_on_images_path is for ONNX models (--format onnx).")
    if FLAGS.layout == TRACKER and FLAGS.format != "onnx":
        raise ExportUsageError(
            "--layout tracker is for ONNX models (--format onnx); a SavedModel takes pixels."
        )
    if FLAGS.format == "onnx" and not output_path.lower().endswith(".onnx"):
        raise ExportUsageError(f"--output_path {output_path!r} must end in .onnx for ONNX.")
    description_path = os.path.splitext(output_path)[0] + ".json"
    for path in (output_path, description_path):
        if os.path.exists(path):
            raise ExportUsageError(f"{path!r} exists; nothing was changed. Choose a new path.")
    return output_path, description_path


def check_export(inference_model, export_path: str, *, flip_averaged: bool, center=None) -> int:
    """Run the export and the Keras model on the same images; raise ExportError if they differ
    by more than the bound. Returns the embedding's dimension."""
    import applications

    images = applications.export.verification_images(inference_model)
    expected = applications.export.keras_embeddings(
        inference_model, images, flip_averaged=flip_averaged
    )
    if center is not None:
        expected = expected - center
    if FLAGS.layout == TRACKER:  # the same images as a tracker hands them over
        images = applications.export.to_tracker_input(images)
    difference, bound = applications.export.largest_difference(
        expected, run_export(export_path, images)
    )
    print(
        f"Checked on {len(images)} random-pixel images: largest difference from the Keras model "
        f"{difference:.2e} (bound {bound:.2e}: 1e-5 of the largest embedding value, at least "
        "1e-5)."
    )
    if not difference <= bound:
        raise applications.ExportError(
            f"The export differs from the Keras model by {difference:.2e}, more than {bound:.2e}; "
            "it was not written. Please report it with the backbone and tf2onnx's version."
        )
    return int(expected.shape[1])


def centering_images(folder_path: str) -> list[str]:
    """Up to --center_on_image_num readable images of the folder (and its subfolders), evenly
    spaced in path order."""
    from datasets.common import IMAGE_EXTENSIONS
    from datasets.image_files import find_readable_images

    if not os.path.isdir(folder_path):
        raise ExportUsageError(
            f"--center_on_images_path {folder_path!r} is not a folder; give a folder of person "
            "images, e.g. the training set's bounding_box_train."
        )
    paths = sorted(
        os.path.join(folder, name)
        for folder, _, names in os.walk(folder_path)
        for name in names
        if name.lower().endswith(IMAGE_EXTENSIONS)
    )
    paths = [
        path for path, readable in zip(paths, find_readable_images(paths), strict=True) if readable
    ]
    if len(paths) < 2:
        raise ExportUsageError(
            f"--center_on_images_path {folder_path!r} holds {len(paths)} readable image(s); the "
            "mean embedding needs many (hundreds), e.g. the training set's bounding_box_train."
        )
    if len(paths) > FLAGS.center_on_image_num:
        chosen = np.unique(np.linspace(0, len(paths) - 1, FLAGS.center_on_image_num).round())
        paths = [paths[int(index)] for index in chosen]
    return paths


def remove_path(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


def run_export(output_path: str, images: np.ndarray) -> np.ndarray:
    """The exported model's embeddings of images: ONNX Runtime for ONNX, TensorFlow for a
    SavedModel."""
    if FLAGS.format == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(output_path, providers=["CPUExecutionProvider"])
        (found,) = session.run(None, {session.get_inputs()[0].name: images})
        return found
    import tensorflow as tf

    serve = tf.saved_model.load(output_path).signatures["serving_default"]
    return serve(tf.constant(images))["embeddings"].numpy()


if __name__ == "__main__":
    app.run(main, flags_parser=command_line.parse_flags)
