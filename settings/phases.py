"""The two phases of FlipReID training as one run of overall epochs.

Phase "frozen backbone" (freeze_backbone_for_N_epochs epochs) trains only the new layers; phase
"whole model" (epoch_num epochs) trains everything. Each phase is one Keras fit over its range
of overall epochs, and the learning-rate schedule restarts at each phase's first epoch, computed
in both with N = epoch_num (the 2021 release passes one scheduler to both fits).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Phase:
    name: str
    first_epoch: int  # overall index, from 0, of the phase's first epoch
    epoch_num: int
    backbone_trainable: bool

    @property
    def end_epoch(self) -> int:
        """The overall index after the phase's last epoch (fit's `epochs`)."""
        return self.first_epoch + self.epoch_num


@dataclass(frozen=True)
class TrainingPhases:
    """The phases that have epochs, in order; `at(epoch)` says which one an epoch belongs to."""

    phases: tuple[Phase, ...]
    schedule_epoch_num: int  # N of the learning-rate schedule in both phases: --epoch_num

    @classmethod
    def of(cls, *, freeze_backbone_for_N_epochs: int, epoch_num: int) -> "TrainingPhases":
        frozen = Phase("frozen backbone", 0, freeze_backbone_for_N_epochs, False)
        whole = Phase("whole model", frozen.end_epoch, epoch_num, True)
        return cls(
            tuple(phase for phase in (frozen, whole) if phase.epoch_num > 0),
            schedule_epoch_num=epoch_num,
        )

    def __iter__(self):
        return iter(self.phases)

    @property
    def epoch_num(self) -> int:
        return self.phases[-1].end_epoch if self.phases else 0

    def at(self, epoch: int) -> Phase:
        """The phase of overall epoch `epoch` (from 0)."""
        for phase in self.phases:
            if phase.first_epoch <= epoch < phase.end_epoch:
                return phase
        raise IndexError(f"Epoch {epoch} is outside the {self.epoch_num} training epochs.")
