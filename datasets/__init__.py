"""Where the images come from: Market1501, DukeMTMC_reID, MSMT17 (both versions), CUHK03-NP
(labeled, detected), the small DG sets VIPeR, GRID, PRID2011, iLIDS, CUHK02, CUHK_SYSU, a CSV of
your own, Synthetic.

Every loader returns frames with the columns image_file_path, identity_ID, camera_ID. This
package imports no TensorFlow. settings.py: DatasetSettings (which datasets, which test sets).
loading.py: a dataset's three frames by name (the registry of layouts), with statistics.
folder_datasets.py, msmt17.py, split_datasets.py, cuhk_training_sets.py, csv_dataset.py,
synthetic.py: each layout. fixed_splits.py and splits/: the shipped splits of VIPeR, PRID2011
and iLIDS. stand_ins.py: generated stand-ins of the DG sets. run_datasets.py: a run's training
union and test sets. sampling.py: P x K batches. testing_subset.py, fingerprint.py: the test
subset, and the check that a resumed run reads the same images.
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
