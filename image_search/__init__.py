"""A trained model on your own images (search.py reads the flags and wires these together):
which images (images.py), the model and its runtime (models.py), the "same person?" mark
(calibration.py), the gallery's cached features (gallery_cache.py), the ranked lists, pictures
and page written into the output folder as one (results_page.py), rank-1 and mAP
(accuracy.py). Imports no TensorFlow; models.py imports it for a Keras weights file only.

    model = load_search_model("model.onnx", workers=5)
    queries = readable_only(read_images("queries/", role="query", output_folder_path="out"),
                            role="query", workers=5)
"""

from .accuracy import search_accuracy
from .calibration import SamePersonMarks, calibration_thresholds, chosen_threshold, same_person_note
from .errors import SearchError
from .gallery_cache import cached_gallery_features
from .images import (
    Images,
    files_under,
    identity_and_camera,
    read_csv_images,
    read_images,
    readable_only,
)
from .models import SearchModel, load_keras_search_model, load_search_model
from .results_page import finish_swap, take_output_folder, write_results

__all__ = [
    "Images",
    "SamePersonMarks",
    "SearchError",
    "SearchModel",
    "cached_gallery_features",
    "calibration_thresholds",
    "chosen_threshold",
    "files_under",
    "finish_swap",
    "identity_and_camera",
    "load_keras_search_model",
    "load_search_model",
    "read_csv_images",
    "read_images",
    "readable_only",
    "same_person_note",
    "search_accuracy",
    "take_output_folder",
    "write_results",
]
