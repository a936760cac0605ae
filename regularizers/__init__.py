"""L2 penalties, factor * sum(w^2), on the kernels, biases and BatchNormalization gamma and beta
of a built model, each with its own factor (as in the FlipReID release)."""

import legacy_keras  # noqa: F401, I001  (Keras 2 must be selected before TensorFlow is imported)

from dataclasses import dataclass

import tensorflow as tf

from settings_checks import require_at_least

KERNEL_TYPES = (tf.keras.layers.Conv2D, tf.keras.layers.Dense, tf.keras.layers.DepthwiseConv2D)


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


def collect_regularized_variables(model: tf.keras.Model) -> dict[str, list[tf.Variable]]:
    """Variables by kind ("kernel", "bias", "gamma", "beta"), each variable once."""
    variables = {"kernel": [], "bias": [], "gamma": [], "beta": []}
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


def add_l2_regularization(
    model: tf.keras.Model, settings: RegularizationSettings
) -> dict[str, int]:
    """Add the penalties to model.losses; returns how many variables of each kind got one.

    A zero factor adds nothing.
    """
    factors = {
        "kernel": settings.kernel_regularization_factor,
        "bias": settings.bias_regularization_factor,
        "gamma": settings.gamma_regularization_factor,
        "beta": settings.beta_regularization_factor,
    }
    counts = {}
    for kind, variables in collect_regularized_variables(model).items():
        factor = factors[kind]
        counts[kind] = len(variables) if factor else 0
        if not factor or not variables:
            continue

        def penalty(variables=variables, factor=factor):
            return factor * tf.add_n(
                [tf.reduce_sum(tf.square(tf.cast(v, tf.float32))) for v in variables]
            )

        model.add_loss(penalty)
    return counts
