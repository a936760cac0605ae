"""L2 penalties, factor * sum(w^2), on the kernels, biases and BatchNormalization gamma and beta
of a built model, each kind with its own factor (as in the FlipReID release).

The penalty's value is part of the reported loss; its gradient, 2 * factor * w, is added to a
weight's back-propagated gradient by the training step (applications/training_model.py) rather
than back-propagated itself. Back-propagated, it was a third term in the sum of a weight's
gradient terms (image pass, mirror pass, penalty), and TensorFlow's AddN adds three or more
terms in an order chosen at run time (it accumulates into whichever input buffer it may reuse
and moves that input first), so the same run printed other digits from process to process.
"""

from dataclasses import dataclass

import tensorflow as tf

from settings import RegularizationSettings

KERNEL_TYPES = (tf.keras.layers.Conv2D, tf.keras.layers.Dense, tf.keras.layers.DepthwiseConv2D)
KINDS = ("kernel", "bias", "gamma", "beta")


def collect_regularized_variables(model: tf.keras.Model) -> dict[str, list[tf.Variable]]:
    """Variables by kind ("kernel", "bias", "gamma", "beta"), each variable once."""
    variables = {kind: [] for kind in KINDS}
    seen = set()

    def add(kind, variable):
        if variable is not None and id(variable) not in seen:
            seen.add(id(variable))
            variables[kind].append(variable)

    for layer in model.submodules:
        if isinstance(layer, KERNEL_TYPES):
            kernel = getattr(layer, "depthwise_kernel", None)
            add("kernel", kernel if kernel is not None else getattr(layer, "kernel", None))
            add("bias", getattr(layer, "bias", None))
        elif isinstance(layer, tf.keras.layers.BatchNormalization):
            add("gamma", layer.gamma)
            add("beta", layer.beta)
    return variables


@dataclass(frozen=True, eq=False)
class L2Penalty:
    """The penalised variables of a model with their factors (kinds with factor 0 left out).

    A plain object, not a Keras-tracked one: held by a model, it adds nothing to its checkpoints.
    """

    variables_by_kind: tuple[tuple[str, float, tuple[tf.Variable, ...]], ...]

    @classmethod
    def of(cls, model: tf.keras.Model, settings: RegularizationSettings) -> "L2Penalty":
        return cls(
            tuple(
                (kind, settings.factor_of(kind), tuple(variables))
                for kind, variables in collect_regularized_variables(model).items()
                if settings.factor_of(kind) and variables
            )
        )

    @property
    def counts(self) -> dict[str, int]:
        """How many variables of each kind are penalised."""
        counts = dict.fromkeys(KINDS, 0)
        counts.update({kind: len(variables) for kind, _, variables in self.variables_by_kind})
        return counts

    def value(self) -> tf.Tensor:
        """sum over kinds of factor * sum over variables of sum(w^2), a float32 scalar."""
        terms = [
            factor * tf.add_n([tf.reduce_sum(tf.square(tf.cast(v, tf.float32))) for v in variables])
            for _, factor, variables in self.variables_by_kind
        ]
        return tf.add_n(terms) if terms else tf.constant(0.0)

    def gradients(self, variables: list[tf.Variable]) -> list[tf.Tensor | None]:
        """d value / d w = 2 * factor * w for each of `variables` (None where not penalised)."""
        factors = {
            id(variable): factor
            for _, factor, penalised in self.variables_by_kind
            for variable in penalised
        }
        return [
            2.0 * factors[id(variable)] * tf.convert_to_tensor(variable)
            if id(variable) in factors
            else None
            for variable in variables
        ]
