"""L2 penalties, factor * sum(w^2), on the kernels, biases and BatchNormalization gamma and beta
of a built model, each with its own factor (as in the FlipReID release)."""

import legacy_keras  # noqa: F401, I001  (Keras 2 must be selected before TensorFlow is imported)

import tensorflow as tf

KERNEL_TYPES = (tf.keras.layers.Conv2D, tf.keras.layers.Dense, tf.keras.layers.DepthwiseConv2D)


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
    model: tf.keras.Model,
    kernel_regularization_factor: float,
    bias_regularization_factor: float,
    gamma_regularization_factor: float,
    beta_regularization_factor: float,
) -> dict[str, int]:
    """Add the penalties to model.losses; returns how many variables of each kind got one.

    A zero factor adds nothing.
    """
    factors = {
        "kernel": kernel_regularization_factor,
        "bias": bias_regularization_factor,
        "gamma": gamma_regularization_factor,
        "beta": beta_regularization_factor,
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
