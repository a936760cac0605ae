"""The optimizer of a run, from its OptimizerSettings: the 2021 release's Adam, or AdamW, or SGD
with momentum; decoupled weight decay; per-variable learning-rate multipliers (layer-wise decay,
a slower backbone); loss scaling under mixed_float16. docs/training_vit.md says what each is for
and where the numbers come from.

    settings = OptimizerSettings(optimizer_name="AdamW", weight_decay=0.05, layer_decay=0.75)
    layers = LayerMap.of_blocks({"stem": stem.trainable_variables, ...}, RESNET_BLOCK_LAYERS)
    optimizer = make_optimizer(variables, settings, layers=layers)

With the defaults (Adam, no decay, no multipliers) it is Keras' own Adam, as in the 2021
release. Otherwise it is Keras' Adam or SGD whose update_step (Keras' public hook for an
optimizer's update of one variable) first scales the learning rate it is given by the variable's
multiplier and decays the variable at that rate: w <- w - multiplier x learning rate x
weight_decay x w, then runs Keras' own update with multiplier x learning rate. So the schedule
(callbacks/learning_rate.py sets optimizer.learning_rate each epoch) applies to every variable,
the multiplier on top; each variable's Adam step is its multiplier times the unscaled one, which
scaling gradients could not give (Adam divides the scale away). The decay is done here rather
than by Keras' weight_decay argument (with exclude_from_weight_decay), because Keras decays every
variable at the optimizer's one rate: with layer-wise rates a layer would be pulled to zero at
the full rate while it moves at a fraction of it. BEiT's and MAE's AdamW (PyTorch's, per
parameter group) decays each group at its own rate, as here.

Keras 3 names a nested model's variables by their path inside it, so the path does not tell a
variable's block (every ResNet stage has "unit1.body.conv1.conv.conv/kernel"): the model code
says where each variable sits (a LayerMap), and the optimizer keeps the rates by variable. On
TensorFlow, update_step receives the tf.Variable behind a Keras variable (under a tf.distribute
strategy, each replica's copy), so the rates are also looked up by those (update_step_keys).
"""

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import keras
from keras import ops

from settings import OptimizerSettings, SettingsError

# The FlipReID network's blocks on the 2021 ResNets (applications/model.py): the stem is layer
# 0 (the "embeddings"), stages 1 to 3 are layers 1 to 3, both copies of stage 4 layer 4; the
# rest (regional convolutions, GeM powers, heads) is layer 5 = L + 1.
RESNET_BLOCK_LAYERS = {
    "stem": 0,
    "stage1": 1,
    "stage2": 2,
    "stage3": 3,
    "global_stage": 4,
    "regional_stage": 4,
}
# Position embeddings and class, register and mask tokens are not decayed (timm's, DeiT's and
# MAE's no_weight_decay lists: pos_embed, cls_token, dist_token).
NOT_DECAYED_NAME = re.compile("position|token|cls", re.IGNORECASE)


def is_decayed(variable: keras.Variable) -> bool:
    """Whether weight decay applies to a variable: not to those with fewer than 2 dimensions
    (biases, normalisation scales and offsets, LayerScale, GeM powers), nor to one named "bias"
    (keras-hub's attention projections have (heads, head size) biases), nor to those whose path
    holds "position", "token" or "cls" (position embeddings; class, register and mask tokens).
    The rule of timm, DeiT and MAE: 1-D parameters and the embeddings' own vectors."""
    return (
        len(variable.shape) >= 2
        and variable.name != "bias"
        and not NOT_DECAYED_NAME.search(variable.path)
    )


@dataclass(frozen=True)
class LayerMap:
    """Where the variables an optimizer trains sit, for layer-wise learning-rate decay: layer 0
    holds the embeddings (a ResNet's stem), layers 1 to layer_num the backbone's blocks, layer
    layer_num + 1 the heads and everything after the backbone; and which are the backbone's.

    layer_of(variable) -> 0 .. layer_num + 1; in_backbone(variable) -> bool.
    """

    layer_num: int
    layer_of: Callable[[keras.Variable], int]
    in_backbone: Callable[[keras.Variable], bool]

    @classmethod
    def of_blocks(
        cls, block_variables: dict[str, Iterable[keras.Variable]], block_layers: dict[str, int]
    ) -> "LayerMap":
        """By the block that holds a variable: block_variables {block name: its variables},
        block_layers {block name: layer} (e.g. RESNET_BLOCK_LAYERS); the variables of no block
        are the heads' (layer_num + 1). layer_num is the largest block layer."""
        layer_num = max(block_layers.values())
        layer_of_key = {
            id(variable): block_layers[name]
            for name, variables in block_variables.items()
            for variable in variables
        }
        return cls(
            layer_num=layer_num,
            layer_of=lambda variable: layer_of_key.get(id(variable), layer_num + 1),
            in_backbone=lambda variable: id(variable) in layer_of_key,
        )

    @classmethod
    def of_numbered_layers(
        cls,
        backbone_variables: Iterable[keras.Variable],
        *,
        layer_num: int,
        layer_pattern: str = r"(?:^|/)transformer_layer_(\d+)/",
        first_number: int = 0,
        embedding_pattern: str = "embed|token|cls",
    ) -> "LayerMap":
        """By the layer number in a backbone variable's path (a transformer's layers): a path
        matching layer_pattern, whose group is the number n (first_number for the first layer),
        is at layer n - first_number + 1; another backbone path matching embedding_pattern at 0;
        the rest (a final normalisation, the heads) at layer_num + 1, as BEiT's and MAE's
        get_layer_id_for_vit place them. keras-hub names its layers "layers_N" (DINOv2),
        "encoder_block_N" (CLIP) and "transformer_block_N" from 1 (ViT)."""
        backbone_keys = {id(variable) for variable in backbone_variables}
        layer_name, embedding_name = re.compile(layer_pattern), re.compile(embedding_pattern)

        def layer_of(variable: keras.Variable) -> int:
            if id(variable) not in backbone_keys:
                return layer_num + 1
            if found := layer_name.search(variable.path):
                layer = int(found[1]) - first_number + 1
                if not 1 <= layer <= layer_num:
                    raise ValueError(
                        f"{variable.path}: layer {found[1]} is outside the {layer_num} layers "
                        f"numbered from {first_number} (layer_pattern {layer_pattern!r})."
                    )
                return layer
            return 0 if embedding_name.search(variable.path) else layer_num + 1

        return cls(
            layer_num=layer_num,
            layer_of=layer_of,
            in_backbone=lambda variable: id(variable) in backbone_keys,
        )


@dataclass(frozen=True)
class VariableRate:
    """A variable's learning-rate multiplier and its weight decay (0: none)."""

    learning_rate_multiplier: float = 1.0
    weight_decay: float = 0.0


def variable_rate(
    variable: keras.Variable, settings: OptimizerSettings, layers: LayerMap | None
) -> VariableRate:
    """The multiplier layer_decay ** (L + 1 - layer), times backbone_learning_rate_factor for
    the backbone's variables; the weight decay where is_decayed says so."""
    multiplier = 1.0
    if layers is not None:
        multiplier = settings.layer_decay ** (layers.layer_num + 1 - layers.layer_of(variable))
        if layers.in_backbone(variable):
            multiplier *= settings.backbone_learning_rate_factor
    return VariableRate(
        learning_rate_multiplier=multiplier,
        weight_decay=settings.weight_decay if is_decayed(variable) else 0.0,
    )


def update_step_keys(variable: keras.Variable) -> list[int]:
    """id()s of the objects update_step can receive for `variable`: the Keras variable (JAX,
    PyTorch); on TensorFlow the tf.Variable behind it (Variable.value), under a tf.distribute
    strategy each replica's copy of it (TensorFlow's optimizer updates those one by one)."""
    keys = [id(variable)]
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        value = variable.value
        replica_values = tf.distribute.get_strategy().experimental_local_results(value)
        keys += [id(value), *map(id, replica_values)]
    return keys


@dataclass(frozen=True)
class RateTable:
    """{update_step key: VariableRate}, and the rates in the order of the variables; a plain
    object, so Keras' tracking leaves it alone."""

    rates: dict[int, VariableRate]
    variable_rates: tuple[VariableRate, ...] = ()


class VariableRates:
    """Mixed into a Keras optimizer: per-variable learning-rate multipliers and decoupled weight
    decay in update_step (the module docstring says why there). rate_of(variable) ->
    VariableRate, asked once per variable when the optimizer is built (under the strategy the
    variables belong to)."""

    def __init__(self, *, rate_of: Callable[[keras.Variable], VariableRate], **kwargs):
        super().__init__(**kwargs)
        self.rate_of = rate_of
        self.rate_table = RateTable({})

    def build(self, variables):
        if self.built:  # a LossScaleOptimizer builds its inner optimizer again at its first step
            return
        super().build(variables)
        variable_rates = tuple(self.rate_of(variable) for variable in variables)
        self.rate_table = RateTable(
            {
                key: rate
                for variable, rate in zip(variables, variable_rates, strict=True)
                for key in update_step_keys(variable)
            },
            variable_rates,
        )

    def update_step(self, gradient, variable, learning_rate):
        rate = self.rate_table.rates.get(id(variable))
        if rate is None:
            raise ValueError(
                f"The optimizer has no learning rate for the variable {variable.name}: it was "
                "built over other variables (make_optimizer builds it over every variable that "
                "trains in either phase), or under another tf.distribute strategy."
            )
        if rate.learning_rate_multiplier != 1:
            learning_rate = learning_rate * rate.learning_rate_multiplier
        if rate.weight_decay:
            # As Keras' own decay computes it (w * decay * rate), at the variable's rate.
            decay = ops.cast(rate.weight_decay, variable.dtype)
            self.assign_sub(variable, variable * decay * ops.cast(learning_rate, variable.dtype))
        super().update_step(gradient, variable, learning_rate)


class AdamWithVariableRates(VariableRates, keras.optimizers.Adam):
    """Adam (AdamW with weight decay) with per-variable rates."""


class SGDWithVariableRates(VariableRates, keras.optimizers.SGD):
    """SGD with momentum (and weight decay) with per-variable rates."""


def make_optimizer(
    variables: list[keras.Variable],
    settings: OptimizerSettings,
    *,
    layers: LayerMap | None = None,
) -> keras.optimizers.Optimizer:
    """The optimizer `settings` ask for, built over `variables` (all that will train, in either
    phase), wrapped in a LossScaleOptimizer under the mixed_float16 policy. layers: where each
    variable sits (needed for --layer_decay and --backbone_learning_rate_factor)."""
    if settings.has_learning_rate_multipliers and (
        layers is None or not any(layers.in_backbone(variable) for variable in variables)
    ):
        raise SettingsError(
            "--layer_decay and --backbone_learning_rate_factor need to know which layer each "
            "backbone variable is in, and none of this model's variables is in a layer known "
            "for it (applications/optimizers.py: the 2021 ResNets' blocks). Leave both at 1 for "
            "this backbone."
        )
    keras_class, arguments = keras.optimizers.Adam, {}
    if settings.optimizer_name == "SGD":
        keras_class = keras.optimizers.SGD
        arguments = dict(momentum=settings.momentum, nesterov=settings.use_nesterov_momentum)
    if settings.weight_decay or settings.has_learning_rate_multipliers:
        keras_class = {
            keras.optimizers.Adam: AdamWithVariableRates,
            keras.optimizers.SGD: SGDWithVariableRates,
        }[keras_class]
        arguments["rate_of"] = lambda variable: variable_rate(variable, settings, layers)
    optimizer = keras_class(**arguments)
    optimizer.build(variables)
    if keras.config.dtype_policy().name == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def describe_optimizer(optimizer: keras.optimizers.Optimizer) -> str:
    """One line for the run's output, e.g. "SGD, momentum 0.9 (Nesterov's); weight decay 0.001
    on 30 of 91 variables; learning rates 0.1187 to 1 x the schedule's; loss scaling"."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return describe_optimizer(optimizer.inner_optimizer) + "; loss scaling"
    rates = optimizer.rate_table.variable_rates if isinstance(optimizer, VariableRates) else ()
    decays = {rate.weight_decay for rate in rates if rate.weight_decay}
    parts = ["AdamW" if decays else "Adam"]
    if isinstance(optimizer, keras.optimizers.SGD):
        nesterov = " (Nesterov's)" if optimizer.nesterov else ""
        parts = [f"SGD, momentum {optimizer.momentum:g}{nesterov}"]
    if decays:
        decayed_num = sum(1 for rate in rates if rate.weight_decay)
        parts.append(
            f"weight decay {', '.join(f'{decay:g}' for decay in sorted(decays))} on "
            f"{decayed_num} of {len(rates)} variables"
        )
    multipliers = [rate.learning_rate_multiplier for rate in rates]
    if any(multiplier != 1 for multiplier in multipliers):
        lowest, highest = min(multipliers), max(multipliers)
        parts.append(f"learning rates {lowest:.4g} to {highest:.4g} x the schedule's")
    return "; ".join(parts)
