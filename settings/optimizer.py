"""The optimizer of a run: which one, its weight decay, and per-layer learning rates; the flags,
checked as they are built. The defaults are the 2021 release's: Adam, one learning rate for
every variable, no weight decay (its regularisation is the L2 penalty, settings/training.py)."""

from dataclasses import dataclass

from .checks import SettingsError, require_at_least, require_one_of, require_positive

OPTIMIZER_NAMES = ("Adam", "AdamW", "SGD")


@dataclass(frozen=True)
class OptimizerSettings:
    """Field names are the command-line flags; docs/training_vit.md has recipes from the
    literature.

    optimizer_name: Adam (the 2021 release's), AdamW (Adam with decoupled weight decay,
    Loshchilov and Hutter, ICLR 2019) or SGD with momentum (Nesterov's with
    use_nesterov_momentum). weight_decay (AdamW, SGD): each step, before its update, a decayed
    variable w becomes w - learning rate x weight_decay x w, its own learning rate (multiplier
    included); not biases, normalisation parameters, position embeddings or tokens
    (applications/optimizers.py::is_decayed). layer_decay: the learning rate of layer i of L is
    the schedule's times layer_decay ** (L + 1 - i), the embeddings (a ResNet's stem) being layer
    0 and the heads L + 1 (BEiT, MAE). backbone_learning_rate_factor: the backbone's variables'
    rate times this, on top.
    """

    optimizer_name: str = "Adam"
    momentum: float = 0.9  # SGD only
    use_nesterov_momentum: bool = False  # SGD only
    weight_decay: float = 0.0
    layer_decay: float = 1.0  # 1: off
    backbone_learning_rate_factor: float = 1.0  # 1: off

    def __post_init__(self):
        require_one_of(self, "optimizer_name", OPTIMIZER_NAMES)
        require_at_least(self, weight_decay=0)
        require_positive(self, "backbone_learning_rate_factor")
        if not 0 <= self.momentum < 1:
            raise SettingsError(f"--momentum must be in [0, 1); got {self.momentum}.")
        if not 0 < self.layer_decay <= 1:
            raise SettingsError(
                f"--layer_decay must be in (0, 1] (1: every layer at the schedule's rate); got "
                f"{self.layer_decay}. BEiT and MAE fine-tune ViTs with 0.65 to 0.75."
            )
        if self.weight_decay and self.optimizer_name == "Adam":
            raise SettingsError(
                f"--weight_decay {self.weight_decay} is decoupled weight decay, which "
                "--optimizer_name Adam does not have (its regularisation is the L2 penalty, "
                "--kernel_regularization_factor and the others). Use --optimizer_name AdamW (or "
                "SGD), or leave --weight_decay at 0."
            )
        if self.optimizer_name == "AdamW" and not self.weight_decay:
            raise SettingsError(
                "--optimizer_name AdamW needs --weight_decay above 0 (without decay it is Adam); "
                "e.g. 0.05 (DeiT, MAE), or use --optimizer_name Adam."
            )
        if self.use_nesterov_momentum and (self.optimizer_name != "SGD" or not self.momentum):
            raise SettingsError(
                "--use_nesterov_momentum needs --optimizer_name SGD with --momentum above 0; got "
                f"--optimizer_name {self.optimizer_name} and --momentum {self.momentum}."
            )

    @property
    def has_learning_rate_multipliers(self) -> bool:
        """Whether some variables train at other rates than the schedule's."""
        return self.layer_decay != 1 or self.backbone_learning_rate_factor != 1
