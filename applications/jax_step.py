"""The training model's step on Keras' JAX backend: the same loss and gradients as the
TensorFlow step in training_model.py, computed statelessly, as Keras' JAX trainer calls a step:

    logs, state = train_step(model, state, data)
    state = (trainable values, non-trainable values, optimizer values, metric values)

The network runs through `stateless_call` (its flipping losses come back with it), `jax.grad`
differentiates the scaled loss with respect to the trainable values, the L2 penalty's gradient
(2 * factor * w) is added afterwards as on TensorFlow, and the optimizer updates the values in a
keras.StatelessScope. The scope, rather than optimizer.stateless_apply, because the optimizer is
built over the variables of both phases (applications.make_optimizer) while a frozen phase
trains only some of them; apply() takes such a subset, stateless_apply() does not.
"""

import keras


def train_step(model, state, data):
    """One training step on a batch: (logs, new state)."""
    import jax

    trainable_values, non_trainable_values, optimizer_values, metric_values = state
    images, targets, _ = keras.utils.unpack_x_y_sample_weight(data)
    optimizer = model.optimizer
    optimizer_mapping = list(zip(optimizer.variables, optimizer_values, strict=True))

    def scaled_loss_of(trainable_values, non_trainable_values):
        predictions, new_non_trainable_values, flipping_losses = model.stateless_call(
            trainable_values,
            non_trainable_values,
            images,
            training=True,
            return_losses=True,
        )
        mapping = variable_mapping(model, trainable_values, non_trainable_values)
        with keras.StatelessScope(state_mapping=mapping + optimizer_mapping):
            loss, values = model.flipreid_loss(
                targets, predictions, flipping_losses=flipping_losses
            )
            scaled_loss = optimizer.scale_loss(loss)
        return scaled_loss, (values, new_non_trainable_values)

    gradient_of = jax.value_and_grad(scaled_loss_of, has_aux=True)
    (_, (values, new_non_trainable_values)), gradients = gradient_of(
        trainable_values, non_trainable_values
    )
    variables = model.trainable_variables
    mapping = variable_mapping(model, trainable_values, non_trainable_values)
    with keras.StatelessScope(state_mapping=mapping + optimizer_mapping) as scope:
        gradients = model.add_penalty_gradients(gradients, variables)
        optimizer.apply(gradients, variables)
    trainable_values = [scope.get_current_value(variable) for variable in variables]
    optimizer_values = [
        current_value(scope, variable, value)
        for variable, value in zip(optimizer.variables, optimizer_values, strict=True)
    ]
    logs, metric_values = track(model, values, metric_values)
    return logs, (trainable_values, new_non_trainable_values, optimizer_values, metric_values)


def test_step(model, state, data):
    """The loss terms of a batch in inference mode: (logs, new state)."""
    trainable_values, non_trainable_values, metric_values = state
    images, targets, _ = keras.utils.unpack_x_y_sample_weight(data)
    predictions, non_trainable_values, flipping_losses = model.stateless_call(
        trainable_values, non_trainable_values, images, training=False, return_losses=True
    )
    mapping = variable_mapping(model, trainable_values, non_trainable_values)
    with keras.StatelessScope(state_mapping=mapping):
        _, values = model.flipreid_loss(targets, predictions, flipping_losses=flipping_losses)
    logs, metric_values = track(model, values, metric_values)
    return logs, (trainable_values, non_trainable_values, metric_values)


def variable_mapping(model, trainable_values, non_trainable_values) -> list:
    """(variable, value) pairs for every variable of the model, as a StatelessScope takes
    them: inside Keras' JAX fit the variables themselves hold no values."""
    return list(zip(model.trainable_variables, trainable_values, strict=True)) + list(
        zip(model.non_trainable_variables, non_trainable_values, strict=True)
    )


def track(model, values: dict, metric_values: list) -> tuple[dict, list]:
    """model.track (the running means of the loss terms) on the metrics' values."""
    mapping = list(zip(model.metrics_variables, metric_values, strict=True))
    with keras.StatelessScope(state_mapping=mapping) as scope:
        logs = model.track(values)
    metric_values = [
        current_value(scope, variable, value)
        for variable, value in zip(model.metrics_variables, metric_values, strict=True)
    ]
    return logs, metric_values


def current_value(scope, variable, value):
    """The variable's value after the scope's assignments (`value` if it was not assigned)."""
    new_value = scope.get_current_value(variable)
    return value if new_value is None else new_value
