"""How long a run trains and how its batch is split: the training flags, checked as they are
built."""

from dataclasses import dataclass

from callbacks import TrainingPhases
from callbacks.run_state import KEPT_CHECKPOINT_NUM
from datasets.sampling import SamplingSettings
from settings_checks import SettingsError, require_at_least


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
