"""The run as a whole: the weights it starts from, where its results go, and every settings
object of one run of solution.py together."""

from dataclasses import dataclass

from .dataset import DatasetSettings, SyntheticSettings
from .devices import DeviceSettings
from .evaluation import EvaluationSettings
from .learning_rate import LearningRateSettings
from .model import ModelSettings
from .optimizer import OptimizerSettings
from .training import (
    AugmentationSettings,
    RegularizationSettings,
    SamplingSettings,
    TrainingSettings,
)


@dataclass(frozen=True)
class RunSettings:
    """Files and workers; field names are the command-line flags."""

    evaluation_only: bool = False
    pretrained_model_file_path: str = ""  # training_model.h5, inference_model.h5 or a 2021 file
    use_pretrained_backbone: bool = True
    pretrained_backbone_weights_file_path: str = ""
    output_folder_path: str = "./output"  # results go to output_folder_path/{dataset}_{backbone}
    overwrite_output_folder: bool = False
    workers: int = 5  # parallel image decoding and augmentation calls


@dataclass(frozen=True)
class Settings:
    """Every settings object of a run (solution.py builds them from the flags in one place)."""

    dataset: DatasetSettings
    synthetic: SyntheticSettings
    model: ModelSettings
    regularization: RegularizationSettings
    evaluation: EvaluationSettings
    sampling: SamplingSettings
    augmentation: AugmentationSettings
    learning_rate: LearningRateSettings
    training: TrainingSettings | None  # None in evaluation-only mode
    devices: DeviceSettings
    run: RunSettings
    optimizer: OptimizerSettings = OptimizerSettings()  # the 2021 release's Adam
