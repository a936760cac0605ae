"""A trained inference model as a file another runtime runs: ONNX (for ONNX Runtime, without
TensorFlow) or a TensorFlow SavedModel. Both take raw RGB pixels, (batch, H, W, 3) float32 in
0..255 at the model's input size (the preprocessing is inside, as in the Keras model), batch of
any size, and give "embeddings": the concatenated embedding, or with flip_averaged the FlipReID
embedding itself (the mean of the image's and its mirror's) in the same call.

tf2onnx 1.17.0 (tested upstream on TensorFlow releases before 2.21) converts this model from a
tf.function of the Keras 3 model on TensorFlow 2.21, the keras-hub ViTs' exact GELU through a
handler of ours (CUSTOM_OP_HANDLERS); export.py checks every export against the Keras model.
export.py runs it with protobuf's pure-Python messages, which need half the memory or less
(export.py use_python_protobuf); called in a process that imported protobuf already, it works
as well, with upb's memory.
"""

import tensorflow_setup  # noqa: F401, I001  (oneDNN and a quiet start, before TensorFlow is imported)

import contextlib
import os

import numpy as np
import keras
import tensorflow as tf

from atomic_files import atomic_folder, write_atomically
from deployment.onnx_model import PIXELS, TRACKER, tracker_input
from .layers import IMAGENET_MEAN, IMAGENET_STD

from .features import embed_images

INPUT_NAME, OUTPUT_NAME = "images", "embeddings"
ONNX_OPSET = 17
# The largest difference an export may have from the Keras model, relative to the largest
# embedding value (float32 rounding of another order of operations is about 1e-7 of it).
RELATIVE_TOLERANCE = 1e-5


# By default tf2onnx runs each of its graph optimizers on a deep copy of the graph, weights
# included, to fall back on the copy when one fails; the copies stay alive until Python's cycle
# collector runs: 6.7 GB for the README demo's resnet18. Set to FALSE (tf2onnx's
# environment variable), optimizers work in place: 3.0 GB, and 3x faster.
TF2ONNX_CATCH_ERRORS = "TF2ONNX_CATCH_ERRORS"


def erfc_as_one_minus_erf(graph, node, name, args):
    """tf2onnx handler (its custom_op_handlers API) for TensorFlow's Erfc, which ONNX lacks and
    tf2onnx 1.17 does not convert: erfc(x) = 1 - erf(x), with ONNX's Erf. TensorFlow's exact GELU
    (tf.nn.gelu, approximate=False: 0.5 x erfc(-x / sqrt 2)), which keras-hub's DINOv2 layers
    use, is where it comes from. Where erfc is tiny (x above about 3), 1 - erf(x) loses its
    relative precision, but GELU multiplies it by x / 2 of a negative input: an absolute error of
    at most a few 1e-8 per activation."""
    del name, args
    one = graph.make_const(f"{node.name}/one", np.array(1, np.float32))
    erf = graph.make_node("Erf", [node.input[0]], op_name_scope=node.name)
    node.type = "Sub"
    graph.replace_inputs(node, [one.output[0], erf.output[0]])
    return node


# TensorFlow ops tf2onnx 1.17 cannot convert that this project's models hold, with their handlers.
CUSTOM_OP_HANDLERS = {"Erfc": (erfc_as_one_minus_erf, [])}


@contextlib.contextmanager
def environment_variable(name: str, value: str):
    """os.environ[name] = value inside the block, as it was after."""
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            del os.environ[name]
        else:
            os.environ[name] = previous


class ExportError(Exception):
    """An export that cannot be made or does not compute what the Keras model computes."""


def to_tracker_input(images: np.ndarray) -> np.ndarray:
    """(n, H, W, 3) RGB 0..255 -> what a tracker hands a TRACKER-layout export, with the
    ImageNet mean and standard deviation the backbone was trained with."""
    return tracker_input(images, mean=IMAGENET_MEAN, std=IMAGENET_STD)


def embedding_function(
    inference_model: keras.Model,
    *,
    flip_averaged: bool,
    layout: str = PIXELS,
    center: np.ndarray | None = None,
):
    """A tf.function images -> {"embeddings": ...} with a dynamic batch dimension; images in
    `layout` (deployment.onnx_model.LAYOUTS); center: a vector subtracted from every embedding
    (mean_embedding)."""
    height, width, channels = inference_model.input_shape[1:]
    shape = [None, height, width, channels]
    if layout == TRACKER:
        shape = [None, channels, height, width]

    @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32, INPUT_NAME)])
    def embed(images):
        if layout == TRACKER:  # back to the 0..255 RGB pixels the Keras model normalises itself
            images = tf.transpose(images, [0, 2, 3, 1])
            images = (images * tf.constant(IMAGENET_STD) + tf.constant(IMAGENET_MEAN)) * 255.0
        features = embed_images(inference_model, images, flip_averaged=flip_averaged)
        if center is not None:
            features = features - tf.constant(center, tf.float32)
        return {OUTPUT_NAME: tf.identity(features, name=OUTPUT_NAME)}

    return embed


def export_onnx(
    inference_model: keras.Model,
    file_path: str,
    *,
    flip_averaged: bool,
    layout: str = PIXELS,
    center: np.ndarray | None = None,
) -> None:
    """The model as an ONNX file (opset ONNX_OPSET) taking images in `layout`, written
    atomically; center: see embedding_function."""
    import tf2onnx  # only exporting needs it

    embed = embedding_function(
        inference_model, flip_averaged=flip_averaged, layout=layout, center=center
    )
    try:
        try:
            with environment_variable(TF2ONNX_CATCH_ERRORS, "FALSE"):
                model_proto, _ = tf2onnx.convert.from_function(
                    embed,
                    input_signature=embed.input_signature,
                    opset=ONNX_OPSET,
                    custom_op_handlers=CUSTOM_OP_HANDLERS,
                )
        except Exception:  # an optimizer failed: again with tf2onnx's own fallback
            model_proto, _ = tf2onnx.convert.from_function(
                embed,
                input_signature=embed.input_signature,
                opset=ONNX_OPSET,
                custom_op_handlers=CUSTOM_OP_HANDLERS,
            )
    except Exception as error:  # tf2onnx raises many kinds for an op it cannot convert
        raise ExportError(
            f"tf2onnx {tf2onnx.__version__} could not convert the model: "
            f"{type(error).__name__}: {error}"
        ) from error
    unconverted = unconverted_ops(model_proto)
    if unconverted:
        raise ExportError(
            f"tf2onnx {tf2onnx.__version__} left TensorFlow ops that ONNX does not have in the "
            f"graph ({', '.join(unconverted)}), so ONNX Runtime could not load it; nothing was "
            "written. Please report it with the backbone and tf2onnx's version."
        )
    write_atomically(file_path, model_proto.SerializeToString())  # a WriteError knows the size


def unconverted_ops(model_proto) -> list[str]:
    """The op types of the ONNX graph's default domain that ONNX does not define: TensorFlow ops
    tf2onnx kept as they were (it logs them and goes on)."""
    import onnx

    return sorted(
        {
            node.op_type
            for node in model_proto.graph.node
            if node.domain in ("", "ai.onnx") and not onnx.defs.has(node.op_type)
        }
    )


def export_saved_model(
    inference_model: keras.Model, folder_path: str, *, flip_averaged: bool = False
) -> None:
    """A SavedModel whose default signature maps images to {"embeddings": ...} (see the module
    docstring); load with tf.saved_model.load. Written into a new folder, atomically."""
    module = tf.Module()
    module.model = inference_model
    module.serve = embedding_function(inference_model, flip_averaged=flip_averaged)
    with atomic_folder(folder_path) as temporary_path:
        tf.saved_model.save(module, temporary_path, signatures={"serving_default": module.serve})


def mean_embedding(
    inference_model: keras.Model, image_file_paths: list[str], *, flip_averaged: bool
) -> np.ndarray:
    """The mean embedding of the images (float32, accumulated in float64). Subtracted inside
    an export, it spreads the cosine distances: this network's embeddings are pooled ReLU
    outputs, all of one sign, so any two are within a few hundredths of each other in cosine
    distance (docs/tracking.md), while trackers' appearance terms assume distances over 0..2."""
    from .features import FeatureExtractor

    features = FeatureExtractor(inference_model, use_horizontal_flipping=flip_averaged)(
        image_file_paths
    )
    return features.astype(np.float64).mean(axis=0).astype(np.float32)


def keras_embeddings(inference_model: keras.Model, images: np.ndarray, *, flip_averaged: bool):
    """What the Keras model gives for images, computed plainly (eagerly, image and mirror in
    separate calls): the reference an export is checked against."""
    features = np.concatenate(
        [output.numpy() for output in inference_model(images, training=False)], axis=-1
    )
    if flip_averaged:
        mirrored = np.concatenate(
            [output.numpy() for output in inference_model(images[:, :, ::-1], training=False)],
            axis=-1,
        )
        features = (features + mirrored) / 2
    return features


def verification_images(inference_model: keras.Model, number: int = 3, seed: int = 0):
    """Random-pixel images at the model's input size (a fixed seed)."""
    height, width, channels = inference_model.input_shape[1:]
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (number, height, width, channels)).astype(np.float32)


def largest_difference(expected: np.ndarray, found: np.ndarray) -> tuple[float, float]:
    """(largest absolute difference, the bound it must stay within)."""
    if expected.shape != found.shape:
        raise ExportError(
            f"The export gives shape {found.shape}; the Keras model {expected.shape}."
        )
    bound = RELATIVE_TOLERANCE * max(1.0, float(np.abs(expected).max()))
    return float(np.abs(expected - found).max()), bound
