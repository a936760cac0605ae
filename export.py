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

One export.py at a time writes an output path (a lock beside it); the model and its description
are staged under hidden names and renamed into place once checked, so a search never takes half
an export, and the same command finishes (or clears) what a killed export left.
"""

import command_line  # noqa: I001  (first: a Python without the project's packages is told what to do)

import contextlib
import dataclasses
import errno
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass

import numpy as np
from absl import app, flags, logging

from atomic_files import (
    InUseError,
    WriteError,
    WriterLock,
    explain_write_error,
    raise_explained,
    remove_leftovers_of,
    write_atomically,
)
from crash_points import crash_point
from deployment import ThresholdError
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
    """Flags or paths that cannot be used, or a model that cannot be exported; the message says
    what to do."""


@dataclass(frozen=True)
class ExportPaths:
    """The files of one export: the model and its description, their hidden staging names, and
    the lock. The model is written and checked under the hidden name `unchecked`; then its
    description is written under the hidden name `staged_description` (the moment the export is
    decided: only a checked model gets one); then the description and the model are renamed into
    place, in that order. The same command finishes what a crash left after that moment."""

    model: str  # model.onnx, or the SavedModel folder
    description: str  # model.json beside it

    @property
    def unchecked(self) -> str:
        folder_path, name = os.path.split(self.model)
        return os.path.join(folder_path, f".{name}.unchecked")

    @property
    def staged_description(self) -> str:
        folder_path, name = os.path.split(self.description)
        return os.path.join(folder_path, f".{name}.staged")

    @property
    def lock(self) -> str:
        folder_path, name = os.path.split(self.model)
        return os.path.join(folder_path, f".{name}.lock")

    def names(self) -> set[str]:
        """The names this export writes (under temporary names first)."""
        paths = (self.model, self.description, self.unchecked, self.staged_description)
        return {os.path.basename(path) for path in paths}


def main(argv):
    del argv
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
    try:
        export()
    except (ExportUsageError, InUseError, WriteError) as error:
        sys.exit(f"\nError: {error}")
    except KeyboardInterrupt:
        print(
            "\nStopped by Ctrl-C. Nothing half-written was put in place: the same command "
            "finishes an export that was already checked, or exports again.",
            flush=True,
        )
        sys.exit(130)


def export() -> None:
    """Check the flags and the output path, take the path's lock, finish or clear what an
    interrupted export of it left; then (TensorFlow imported only now) export, check, and only
    then put the model and its description in place: an export that fails its check is removed,
    never left where a search would take it."""
    paths = checked_export_paths()
    lock = take_output_path(paths)
    try:
        finished = finish_interrupted_export(paths)
        if finished is not None:
            print(f"Finished the export that an interrupted export.py left: {paths.model}")
            if is_this_export(finished):
                print(f"Written: {paths.model} and its description {paths.description}")
                return
        for path in (paths.model, paths.description):
            if os.path.exists(path):
                raise ExportUsageError(f"{path!r} exists; nothing was changed. Choose a new path.")
        if not os.path.isfile(FLAGS.model_file_path):
            raise ExportUsageError(
                f"--model_file_path {FLAGS.model_file_path!r} is not a file; give a run's "
                "inference_model.h5 (with its .json) or training_model.h5."
            )
        with explained_write_errors(paths):
            convert_check_and_place(paths)
    finally:
        lock.release()


def checked_export_paths() -> ExportPaths:
    """The export's paths from the flags; the output folder made if needed (no TensorFlow yet,
    so that a wrong path is told at once, not after the conversion)."""
    output_path, description_path = checked_paths()
    paths = ExportPaths(os.path.abspath(output_path), os.path.abspath(description_path))
    folder_path = os.path.dirname(paths.model)
    blocked = folder_path
    while not os.path.exists(blocked) and os.path.dirname(blocked) != blocked:
        blocked = os.path.dirname(blocked)
    if not os.path.isdir(blocked):
        raise ExportUsageError(
            f"--output_path {output_path!r} cannot be written: {blocked} is a file, not a folder. "
            "Choose another --output_path."
        )
    try:
        os.makedirs(folder_path, exist_ok=True)
    except OSError as error:
        raise_explained(error, paths.model, flag="--output_path")
    if not os.access(folder_path, os.W_OK | os.X_OK):
        raise_explained(
            OSError(errno.EACCES, "Permission denied"), paths.model, flag="--output_path"
        )
    return paths


def take_output_path(paths: ExportPaths) -> WriterLock:
    """The lock of the output path (one export.py at a time writes it), and the temporary files
    of this path's interrupted writes cleared."""
    lock = WriterLock.acquire(
        paths.lock,
        what=f"--output_path {paths.model}",
        advice="Two exports into one path would mix their models and descriptions, so this one "
        "stops without changing anything. Wait for that export to end (or stop it), or choose "
        "another --output_path.",
        flag="--output_path",
    )
    removed = remove_leftovers_of(os.path.dirname(paths.model), paths.names().__contains__)
    if removed:
        print(
            f"Removed {len(removed)} temporary file(s) that an interrupted export left: "
            + ", ".join(os.path.basename(path) for path in removed)
        )
    return lock


def finish_interrupted_export(paths: ExportPaths) -> dict | None:
    """Complete an export that a crash stopped after it was decided (its description staged or
    in place beside the checked model), and return that description; clear one stopped before
    (None). Moves and removes only this program's hidden staging files. No TensorFlow."""
    unchecked, staged = paths.unchecked, paths.staged_description
    if os.path.exists(paths.model):  # in place: nothing of ours is pending
        remove_path(unchecked)
        remove_path(staged)
        return None
    decided = exported_description(staged) is not None
    if os.path.exists(unchecked) and decided and not os.path.exists(paths.description):
        crash_point("export renames description")
        os.rename(staged, paths.description)
    description = None
    if os.path.exists(unchecked) and not os.path.exists(staged):
        description = exported_description(paths.description)
    if description is None:  # stopped before the check ended (or no export pending)
        remove_path(unchecked)
        remove_path(staged)
        return None
    crash_point("export renames model")
    os.rename(unchecked, paths.model)
    return description


def exported_description(description_path: str) -> dict | None:
    """The description export.py wrote at description_path, or None (missing, or a file of
    another kind, which is never taken for one)."""
    try:
        with open(description_path) as description_file:
            description = json.load(description_file)
    except (OSError, ValueError):
        return None
    if not isinstance(description, dict) or not {"format", "exported_from"} <= description.keys():
        return None
    return description


def is_this_export(description: dict) -> bool:
    """Whether a finished export's description is what these flags ask for."""
    asked = {
        "format": FLAGS.format,
        "layout": FLAGS.layout,
        "exported_from": os.path.abspath(FLAGS.model_file_path),
    }
    if FLAGS.use_horizontal_flipping_in_evaluation is not None:
        asked["flip_averaged"] = FLAGS.use_horizontal_flipping_in_evaluation
    centred = description.get("centered_on", {}).get("images_path")
    wanted = FLAGS.center_on_images_path and os.path.abspath(FLAGS.center_on_images_path)
    return all(description.get(key) == value for key, value in asked.items()) and (
        centred == (wanted or None)
    )


@contextlib.contextmanager
def explained_write_errors(paths: ExportPaths):
    """A write that fails for lack of space or permission is told for the user's path and
    --output_path, not the hidden file it was written under."""
    try:
        yield
    except WriteError as error:
        cause = error.__cause__ if isinstance(error.__cause__, OSError) else error
        explained = explain_write_error(cause, paths.model, size=error.size, flag="--output_path")
        raise (explained or error) from error


def convert_check_and_place(paths: ExportPaths) -> None:
    """Load the model (TensorFlow), export it to the hidden staging name, check it, stage its
    description (the export is decided), then rename both into place."""
    print(
        f"Loading {FLAGS.model_file_path} with TensorFlow (importing it takes several seconds)",
        flush=True,
    )
    if FLAGS.format == "onnx":
        use_python_protobuf()
    import applications  # TensorFlow is imported here
    import tensorflow_setup

    problem = tensorflow_setup.keras_backend_problem("export.py")
    if problem:
        raise ExportUsageError(problem)
    try:
        inference_model, settings = applications.inference_model_of_file(FLAGS.model_file_path)
        flipping = FLAGS.use_horizontal_flipping_in_evaluation
        if flipping is None:
            flipping = settings.use_horizontal_flipping_inside_model
        center, centering = None, {}
        if FLAGS.center_on_images_path:
            image_file_paths = centering_images(FLAGS.center_on_images_path)
            print(f"Centring: the mean embedding of {len(image_file_paths):,} images", flush=True)
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
                print(
                    "Converting to ONNX with tf2onnx (about 10 s for a resnet18, a minute or more "
                    "for a resnet50)",
                    flush=True,
                )
                applications.export_onnx(
                    inference_model,
                    paths.unchecked,
                    flip_averaged=flipping,
                    layout=FLAGS.layout,
                    center=center,
                )
            else:
                print("Saving the SavedModel", flush=True)
                applications.export_saved_model(
                    inference_model, paths.unchecked, flip_averaged=flipping
                )
            print(f"Exported in {time.perf_counter() - start:.1f} s; checking it", flush=True)
            embedding_dimension = check_export(
                inference_model, paths.unchecked, flip_averaged=flipping, center=center
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
            # The moment of truth: a staged description says that the model beside it passed.
            write_atomically(paths.staged_description, json.dumps(description, indent=2) + "\n")
        except BaseException:
            remove_path(paths.unchecked)
            raise
    except (applications.ExportError, applications.WeightsFileError, ThresholdError) as error:
        raise ExportUsageError(str(error)) from error
    finish_interrupted_export(paths)
    print(
        f"Written: {paths.model} and its description {paths.description}"
        + (
            f" (with the same-person thresholds of the evaluation on {thresholds.dataset})"
            if thresholds
            else " (no same-person thresholds: they are distances of uncentred embeddings)"
            if center is not None
            else " (no same-person thresholds: the weights file comes without them)"
        )
    )


# protobuf's environment variable choosing its Python implementation (read when it is imported).
PROTOBUF_IMPLEMENTATION = "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"


def use_python_protobuf() -> None:
    """protobuf's pure-Python messages for this process, before TensorFlow imports protobuf.
    tf2onnx's graph optimizers rewrite every node's attributes, the constant tensors (the
    weights) included, after each of their passes (about 50 for these models); protobuf's default
    implementation (upb) allocates messages in arenas that keep each replaced copy until the
    whole node is freed, so the weights were held about 50 times over: dinov2_small's export
    took 5.7 GB at its peak, CLIP ViT-B/16's more than 14 GB. With pure-Python messages a
    replaced copy is freed at once: 2.9 and 7.9 GB, in the same time (docs/backbones.md)."""
    if "google.protobuf" not in sys.modules:  # it reads the variable once, when imported
        os.environ.setdefault(PROTOBUF_IMPLEMENTATION, "python")


def checked_paths() -> tuple[str, str]:
    """(the export's path, its description's path), as the flags give them."""
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
