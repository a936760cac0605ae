"""How a run trains: epochs and steps, P x K batches, augmentation and L2 factors; the training
flags, checked as they are built."""

from dataclasses import dataclass

from .checks import (
    SettingsError,
    require_at_least,
    require_fraction,
)
from .phases import TrainingPhases

KEPT_CHECKPOINT_NUM = 2  # a crash during a save loses at most one epoch


@dataclass(frozen=True)
class TrainingSettings:
    """How long training runs; field names are the command-line flags."""

    freeze_backbone_for_N_epochs: int = 20
    epoch_num: int = 1000000
    steps_per_epoch: int = 200
    checkpoints_kept_after_training: int = 1  # 0, 1 or 2 of the run's last checkpoints

    def __post_init__(self):
        require_at_least(
            self,
            freeze_backbone_for_N_epochs=0,
            epoch_num=0,
            steps_per_epoch=1,
            checkpoints_kept_after_training=0,
        )
        if self.checkpoints_kept_after_training > KEPT_CHECKPOINT_NUM:
            raise SettingsError(
                f"--checkpoints_kept_after_training must be at most {KEPT_CHECKPOINT_NUM} (a run "
                f"keeps its last {KEPT_CHECKPOINT_NUM}); got "
                f"{self.checkpoints_kept_after_training}."
            )
        if self.freeze_backbone_for_N_epochs + self.epoch_num == 0:
            raise SettingsError(
                "--freeze_backbone_for_N_epochs and --epoch_num are both 0: there is nothing to "
                "train. Set one of them above 0, or pass --evaluation_only to evaluate."
            )

    @property
    def phases(self) -> TrainingPhases:
        return TrainingPhases.of(
            freeze_backbone_for_N_epochs=self.freeze_backbone_for_N_epochs,
            epoch_num=self.epoch_num,
        )


@dataclass(frozen=True)
class SamplingSettings:
    """The batch: identity_num_per_batch (P) identities, image_num_per_identity (K) each."""

    identity_num_per_batch: int = 16
    image_num_per_identity: int = 4

    def __post_init__(self):
        require_at_least(self, identity_num_per_batch=1, image_num_per_identity=1)
        if self.image_num_per_identity < 2:
            raise SettingsError(
                f"--image_num_per_identity must be at least 2; got {self.image_num_per_identity}. "
                "The batch-hard triplet loss needs, for every image of a batch, another image of "
                "the same identity (a positive); with one image per identity it is always about "
                "0 and trains nothing."
            )

    @property
    def batch_size(self) -> int:
        return self.identity_num_per_batch * self.image_num_per_identity


@dataclass(frozen=True)
class RegularizationSettings:
    """The L2 factor of each kind of variable; field names are the command-line flags."""

    kernel_regularization_factor: float = 0.0005
    bias_regularization_factor: float = 0.0005
    gamma_regularization_factor: float = 0.0005
    beta_regularization_factor: float = 0.0005

    def __post_init__(self):
        require_at_least(
            self,
            kernel_regularization_factor=0,
            bias_regularization_factor=0,
            gamma_regularization_factor=0,
            beta_regularization_factor=0,
        )

    def factor_of(self, kind: str) -> float:
        return getattr(self, f"{kind}_regularization_factor")


@dataclass(frozen=True)
class AugmentationSettings:
    """Which augmentations a training image gets; field names are the command-line flags."""

    use_data_augmentation_in_training: bool = True
    patch_replacement_probability: float = 0.8
    random_erasing_probability: float = 0.8

    def __post_init__(self):
        require_fraction(self, "patch_replacement_probability", "random_erasing_probability")


def check_batch_split(sampling: SamplingSettings, replica_num: int) -> None:
    """Each replica must hold whole identities (the triplet loss needs an identity's K images
    together on one replica, and mines over the gathered batch)."""
    if sampling.identity_num_per_batch % replica_num:
        lower = sampling.identity_num_per_batch // replica_num * replica_num
        raise SettingsError(
            f"--identity_num_per_batch {sampling.identity_num_per_batch} does not divide among "
            f"the {replica_num} replicas (devices) of this run, and each replica must hold "
            f"whole identities. Use a multiple of {replica_num} (e.g. "
            f"{lower + replica_num}{f' or {lower}' if lower else ''}), or fewer devices "
            "(CUDA_VISIBLE_DEVICES, --logical_cpu_device_num)."
        )
