"""Where the images come from: Market1501, DukeMTMC_reID, MSMT17 (both versions), CUHK03-NP
(labeled, detected), a CSV of your own, Synthetic.

Every loader returns frames with the columns image_file_path, identity_ID, camera_ID. This
package imports no TensorFlow. settings.py: DatasetSettings (which dataset, which test sets).
loading.py: a dataset's three frames by name, with statistics. folder_datasets.py, msmt17.py,
csv_dataset.py, synthetic.py: each layout. sampling.py: P x K batches. testing_subset.py,
fingerprint.py: the test subset, and the check that a resumed run reads the same images.
"""

from settings import DATASET_NAMES, DatasetSettings, SyntheticSettings, TestingSource, dataset_label

from .common import DatasetCountWarning, DatasetError
from .fingerprint import dataset_fingerprint, describe_changes
from .loading import camera_caution, describe_dataset, load_accumulated_info_of_dataset, load_frames
from .synthetic import generate_synthetic_dataset
from .testing_subset import select_testing_subset

__all__ = [
    "camera_caution",
    "dataset_fingerprint",
    "dataset_label",
    "DATASET_NAMES",
    "DatasetCountWarning",
    "DatasetError",
    "DatasetSettings",
    "describe_changes",
    "describe_dataset",
    "generate_synthetic_dataset",
    "load_accumulated_info_of_dataset",
    "load_frames",
    "select_testing_subset",
    "SyntheticSettings",
    "TestingSource",
]
