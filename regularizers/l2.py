"""L2 penalties, factor * sum(w^2), on the kernels, biases and BatchNormalization gamma and beta of
a built model, each kind with its own factor (as in the FlipReID release); on a keras-hub ViT
also on its transformer layers' kernels and biases and its layer norms' gamma and beta. The
penalty's value is reported in the loss; its gradient, 2 * factor * w, is added to a weight's
back-propagated gradient by the training step (applications/training_model.py says why it is
not back-propagated itself).
"""

from dataclasses import dataclass

import keras
from keras import ops

from load_backbones.keras_hub_family import PatchTokens
from settings import RegularizationSettings

KERNEL_TYPES = (keras.layers.Conv2D, keras.layers.Dense, keras.layers.DepthwiseConv2D)
KINDS = ("kernel", "bias", "gamma", "beta")


def all_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every layer of a model: its own layers in model order, then those of its nested models
    (the backbone's blocks), in the order Keras 2 walked the same network, so that the
    penalty's sums add in the same order and give the same bits."""
    own = [layer for layer in model.layers if not isinstance(layer, keras.Model)]
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    return own + [layer for block in nested for layer in all_layers(block)]


def collect_regularized_variables(model: keras.Model) -> dict[str, list[keras.Variable]]:
    """Variables by kind ("kernel", "bias", "gamma", "beta"), each variable once."""
    variables = {kind: [] for kind in KINDS}
    seen = set()

    def add(kind, variable):
        if variable is not None and id(variable) not in seen:
            seen.add(id(variable))
            variables[kind].append(variable)

    for layer in all_layers(model):
        if isinstance(layer, KERNEL_TYPES):
            kernel = getattr(layer, "depthwise_kernel", None)
            add("kernel", kernel if kernel is not None else getattr(layer, "kernel", None))
            add("bias", getattr(layer, "bias", None))
        elif isinstance(layer, keras.layers.BatchNormalization | keras.layers.LayerNormalization):
            add("gamma", layer.gamma)
            add("beta", layer.beta)
        elif holds_vision_transformer_weights(layer):
            # Layers made of layers (a transformer layer, the patch embedding): their dense
            # and convolution kernels, biases and layer-norm scales and offsets, by name.
            for variable in layer.weights:  # a frozen layer's too, as for the types above
                if variable.name in KINDS:
                    add(variable.name, variable)
    return variables


def holds_vision_transformer_weights(layer: keras.layers.Layer) -> bool:
    """keras-hub's transformer layers, and the patch embedding of load_backbones'
    keras_hub_family.py: layers of layers, whose kernels the types above do not reach. (The
    2021 ResNets have none, so their penalty is what it always was.)"""
    return type(layer).__module__.startswith("keras_hub.") or isinstance(layer, PatchTokens)


@dataclass(frozen=True, eq=False)
class L2Penalty:
    """The penalised variables of a model with their factors (kinds with factor 0 left out).
    A plain object, not a tracked one: held by a model, it adds nothing to its checkpoints."""

    variables_by_kind: tuple[tuple[str, float, tuple[keras.Variable, ...]], ...]

    @classmethod
    def of(cls, model: keras.Model, settings: RegularizationSettings) -> "L2Penalty":
        return cls(
            tuple(
                (kind, settings.factor_of(kind), tuple(variables))
                for kind, variables in collect_regularized_variables(model).items()
                if settings.factor_of(kind) and variables
            )
        )

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(KINDS, 0)
        counts.update({kind: len(variables) for kind, _, variables in self.variables_by_kind})
        return counts

    def value(self):
        """sum over kinds of factor * sum over variables of sum(w^2), a float32 scalar."""
        terms = [
            factor * add_all([ops.sum(ops.square(ops.cast(v, "float32"))) for v in variables])
            for _, factor, variables in self.variables_by_kind
        ]
        return add_all(terms) if terms else ops.zeros((), dtype="float32")

    def gradients(self, variables: list) -> list:
        """d value / d w = 2 * factor * w for each of `variables` (None where not penalised)."""
        factors = {
            id(variable): factor
            for _, factor, penalised in self.variables_by_kind
            for variable in penalised
        }
        return [
            2.0 * factors[id(variable)] * ops.convert_to_tensor(variable)
            if id(variable) in factors
            else None
            for variable in variables
        ]


def add_all(values: list):
    """One AddN on TensorFlow (as Keras 2's penalty summed), a chain of additions elsewhere."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.add_n(values)
    return sum(values[1:], values[0])
