"""The model a search runs, whichever runtime runs it: an ONNX model from export.py (ONNX
Runtime, no TensorFlow) or a Keras weights file (TensorFlow, imported only then)."""

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import command_line
from deployment import SamePersonThresholds, ThresholdError
from deployment.onnx_model import OnnxModel

from .errors import SearchError


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


def load_search_model(model_file_path: str, *, workers: int) -> SearchModel:
    """An ONNX model (.onnx, run by ONNX Runtime) or a Keras weights file (TensorFlow);
    workers: parallel image decoding calls."""
    if os.path.isdir(model_file_path):
        raise SearchError(
            f"--model_file_path {model_file_path!r} is a folder; expected a file: a run's "
            "inference_model.h5 (with its .json) or training_model.h5, or an .onnx model from "
            "export.py."
        )
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
                paths, use_horizontal_flipping=flipping, workers=workers
            ),
            thresholds=SamePersonThresholds.from_description(description),
        )
    if not os.path.isfile(model_file_path):  # said before TensorFlow's import, not after
        raise SearchError(f"--model_file_path {model_file_path!r} does not exist.")
    return load_keras_search_model(model_file_path, workers=workers)


def load_keras_search_model(model_file_path: str, *, workers: int) -> SearchModel:
    command_line.require_tensorflow(
        "a Keras weights file needs TensorFlow; an ONNX model from export.py needs only "
        "requirements-onnx.txt"
    )
    import applications  # TensorFlow is imported here
    import tensorflow_setup

    problem = tensorflow_setup.keras_backend_problem(
        "search.py with a Keras weights file", backends=("tensorflow", "jax")
    )
    if problem:
        raise SearchError(problem)
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
                inference_model, use_horizontal_flipping=flipping, workers=workers
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
