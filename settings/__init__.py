"""What a run is told: one settings object per concern (frozen dataclasses whose fields are the
command-line flags, with the 2021 release's defaults), checked as they are built. Imports no
TensorFlow, so the entry points parse and check their flags before loading it.

model.py: the architecture. dataset.py: which dataset, which test sets, the synthetic set.
training.py: epochs and steps, P x K batches, augmentation, L2 factors. learning_rate.py: the
schedule. phases.py: the two phases as one count of epochs. evaluation.py: when and how tests
run. devices.py: devices and precision. optimizer.py: which optimizer, its weight decay and
per-layer learning rates. run.py: files and workers, and all of a run's settings together.
checks.py: the error and range checks they share.
"""

from .checks import (
    SettingsError,
    require_at_least,
    require_fraction,
    require_one_of,
    require_positive,
)
from .dataset import (
    DATASET_NAMES,
    SPLIT_DATASET_NAMES,
    SPLIT_NUM,
    TRAINING_ONLY_DATASET_NAMES,
    DatasetSettings,
    SyntheticSettings,
    TestingSource,
    check_testing_size,
    dataset_label,
)
from .devices import MIXED_PRECISION_MODES, DeviceSettings
from .evaluation import EvaluationSettings
from .learning_rate import LEARNING_RATE_MODES, LearningRateSettings
from .model import (
    ALL_BACKBONE_NAMES,
    BACKBONE_NAMES,
    GLOBAL_FEATURES,
    KERAS_HUB_BACKBONE_NAMES,
    OUTPUT_STRIDE,
    POOLING_MODES,
    VIT_PATCH_SIZES,
    ModelSettings,
    feature_map_height,
    feature_map_width,
)
from .optimizer import OPTIMIZER_NAMES, OptimizerSettings
from .phases import Phase, TrainingPhases
from .run import RunSettings, Settings
from .training import (
    KEPT_CHECKPOINT_NUM,
    AugmentationSettings,
    RegularizationSettings,
    SamplingSettings,
    TrainingSettings,
    check_batch_split,
)

__all__ = [
    "ALL_BACKBONE_NAMES",
    "AugmentationSettings",
    "BACKBONE_NAMES",
    "check_batch_split",
    "check_testing_size",
    "DATASET_NAMES",
    "SPLIT_DATASET_NAMES",
    "SPLIT_NUM",
    "TRAINING_ONLY_DATASET_NAMES",
    "dataset_label",
    "DatasetSettings",
    "DeviceSettings",
    "EvaluationSettings",
    "feature_map_height",
    "feature_map_width",
    "GLOBAL_FEATURES",
    "KEPT_CHECKPOINT_NUM",
    "KERAS_HUB_BACKBONE_NAMES",
    "LEARNING_RATE_MODES",
    "LearningRateSettings",
    "MIXED_PRECISION_MODES",
    "ModelSettings",
    "OPTIMIZER_NAMES",
    "OptimizerSettings",
    "OUTPUT_STRIDE",
    "Phase",
    "POOLING_MODES",
    "RegularizationSettings",
    "RunSettings",
    "require_at_least",
    "require_fraction",
    "require_one_of",
    "require_positive",
    "SamplingSettings",
    "Settings",
    "SettingsError",
    "SyntheticSettings",
    "TestingSource",
    "TrainingPhases",
    "TrainingSettings",
    "VIT_PATCH_SIZES",
]
