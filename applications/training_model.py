"""The training model's class: a functional model whose training step computes FlipReID's loss
as the Keras 2 versions of this program did, sum for sum, with gradients that repeat bit for bit.

The loss: per output, the batch mean of its loss (triplet on embeddings, cross-entropy on
heads), then the flipping loss and the L2 penalty's value added as one "regularisation" term,
each term scaled by 1 / replicas under tf.distribute, all summed with one AddN: Keras 2's
arrangement, so the reported loss has the same bits.

A weight gets gradient terms from the image's pass and the mirror's pass, and one from its L2
penalty. TensorFlow sums three or more terms of one tensor's gradient with AddN, which
accumulates into whichever input buffer it may reuse at that instant and moves that input
first: the order of the sum, and so its last bit, then changes from process to process, and
the batch-hard triplet loss amplifies it into other mAPs. Two terms add the same in either
order. So the penalty stays out of back-propagation: its value is part of the loss (as
reported), and its gradient, 2 * factor * w, is added to each weight's back-propagated gradient
(image + mirror) afterwards. Grappler's arithmetic optimizer would merge the two additions back
into one AddN of three; training.configure_devices, which every entry point calls first,
switches it off (docs/method.md, "The same digits every time").

On TensorFlow the step is written with GradientTape (and runs under tf.distribute); on JAX it is
jax_step.py's: the same loss and the same penalty gradient, computed statelessly as Keras' JAX
trainer expects.
"""

import keras
from keras import ops

from metric_learning import global_batch_hard_triplet_loss
from regularizers import L2Penalty, add_all
from settings import RegularizationSettings

from . import jax_step


class TrainingModel(keras.Model):
    """A functional model (inputs, outputs) trained with FlipReID's loss and L2 penalties.

    Targets for fit: identity labels (batch,) for each "*_embedding" output, one-hot labels for
    each head, in the order of the model's outputs.
    """

    def __init__(self, inputs, outputs, *, regularization: RegularizationSettings, **kwargs):
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.l2_penalty = L2Penalty.of(self, regularization)
        self.loss_trackers = {
            name: keras.metrics.Mean(name=name)
            for name in ["loss", *[f"{output}_loss" for output in self.output_names], "flipping"]
        }

    @property
    def metrics(self):
        return list(self.loss_trackers.values())

    def flipreid_loss(self, targets, predictions, *, flipping_losses=None):
        """(total loss, {metric name: value}) of one batch; see the module docstring.
        flipping_losses: the call's losses (default: self.losses, those of the last call)."""
        replica_num = replicas_in_sync()
        values, output_losses = {}, []
        for name, target, prediction in zip(self.output_names, targets, predictions, strict=True):
            if name.endswith("_embedding"):
                per_sample = global_batch_hard_triplet_loss(target, prediction)
            else:
                per_sample = keras.losses.categorical_crossentropy(target, prediction)
            mean = ops.sum(per_sample) / ops.cast(ops.size(per_sample), per_sample.dtype)
            values[f"{name}_loss"] = mean
            output_losses.append(mean / replica_num if replica_num > 1 else mean)
        if flipping_losses is None:
            flipping_losses = self.losses
        flipping_losses = [ops.cast(loss, "float32") for loss in flipping_losses]
        penalty = ops.stop_gradient(self.l2_penalty.value())
        regularisation = add_all([*flipping_losses, penalty])
        if replica_num > 1:
            regularisation = regularisation / replica_num
        total = add_all([*output_losses, regularisation])
        values["flipping"] = add_all(flipping_losses) if flipping_losses else ops.zeros(())
        values["loss"] = total * replica_num if replica_num > 1 else total
        return total, values

    def train_step(self, *arguments):
        """Keras' step: train_step(data) -> logs on TensorFlow; train_step(state, data) ->
        (logs, state) on JAX (jax_step.py)."""
        if keras.backend.backend() == "jax":
            state, data = arguments
            return jax_step.train_step(self, state, data)
        (data,) = arguments
        return self.tensorflow_train_step(data)

    def tensorflow_train_step(self, data):
        import tensorflow as tf

        images, targets, _ = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            predictions = self(images, training=True)
            loss, values = self.flipreid_loss(targets, predictions)
            scaled_loss = self.optimizer.scale_loss(loss)
        variables = self.trainable_variables
        gradients = self.add_penalty_gradients(tape.gradient(scaled_loss, variables), variables)
        self.optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return self.track(values)

    def add_penalty_gradients(self, gradients: list, variables: list) -> list:
        """The back-propagated gradients of `variables` with the L2 penalty's (2 * factor * w,
        scaled as the loss is) added to each penalised one; see the module docstring."""
        gradients = list(gradients)
        replica_num = replicas_in_sync()
        for index, penalty_gradient in enumerate(self.l2_penalty.gradients(variables)):
            if penalty_gradient is None:
                continue
            if replica_num > 1:
                penalty_gradient = penalty_gradient / replica_num
            penalty_gradient = self.optimizer.scale_loss(penalty_gradient)
            gradient = gradients[index]
            gradients[index] = penalty_gradient if gradient is None else gradient + penalty_gradient
        return gradients

    def test_step(self, *arguments):
        """The loss terms of a batch in inference mode (evaluate, test_on_batch)."""
        if keras.backend.backend() == "jax":
            state, data = arguments
            return jax_step.test_step(self, state, data)
        (data,) = arguments
        images, targets, _ = keras.utils.unpack_x_y_sample_weight(data)
        predictions = self(images, training=False)
        return self.track(self.flipreid_loss(targets, predictions)[1])

    def track(self, values: dict) -> dict:
        """Add one batch's loss terms to the running means; returns the means."""
        for name, value in values.items():
            self.loss_trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.loss_trackers.items()}


def replicas_in_sync() -> int:
    """The replicas of the tf.distribute strategy in force (1 on other backends)."""
    if keras.backend.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync
