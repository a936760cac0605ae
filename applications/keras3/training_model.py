"""The training model's class in Keras 3: a functional model whose training step computes
FlipReID's loss as the Keras 2 program did (applications/training_model.py), sum for sum.

The loss: per output, the batch mean of its loss (triplet on embeddings, cross-entropy on
heads), then the flipping loss and the L2 penalty's value added as one "regularisation" term,
each term scaled by 1 / replicas under tf.distribute, all summed with one AddN: Keras 2's
arrangement, so the reported loss has the same bits. The penalty's gradient, 2 * factor * w, is
added to each weight's back-propagated gradient afterwards, as in the Keras 2 program
(applications/training_model.py says why: a third AddN term reorders from run to run).

The step is the TensorFlow backend's (GradientTape, tf.distribute); on other backends Keras'
own step would be needed (issue 38's JAX part, not built yet).
"""

import keras
from keras import ops

from settings import RegularizationSettings

from .losses import global_batch_hard_triplet_loss
from .regularization import L2Penalty


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

    def flipreid_loss(self, targets, predictions):
        """(total loss, {metric name: value}) of one batch; see the module docstring."""
        import tensorflow as tf

        replica_num = tf.distribute.get_strategy().num_replicas_in_sync
        values, output_losses = {}, []
        for name, target, prediction in zip(self.output_names, targets, predictions, strict=True):
            if name.endswith("_embedding"):
                per_sample = global_batch_hard_triplet_loss(target, prediction)
            else:
                per_sample = keras.losses.categorical_crossentropy(target, prediction)
            mean = ops.sum(per_sample) / ops.cast(ops.size(per_sample), per_sample.dtype)
            values[f"{name}_loss"] = mean
            output_losses.append(mean / replica_num if replica_num > 1 else mean)
        flipping_losses = [ops.cast(loss, "float32") for loss in self.losses]
        penalty = ops.stop_gradient(self.l2_penalty.value())
        regularisation = tf.add_n([*flipping_losses, penalty])
        if replica_num > 1:
            regularisation = regularisation / replica_num
        total = tf.add_n([*output_losses, regularisation])
        values["flipping"] = tf.add_n(flipping_losses) if flipping_losses else ops.zeros(())
        values["loss"] = total * replica_num if replica_num > 1 else total
        return total, values

    def train_step(self, data):
        import tensorflow as tf

        images, targets, _ = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            predictions = self(images, training=True)
            loss, values = self.flipreid_loss(targets, predictions)
            scaled_loss = self.optimizer.scale_loss(loss)
        variables = self.trainable_variables
        gradients = tape.gradient(scaled_loss, variables)
        replica_num = tf.distribute.get_strategy().num_replicas_in_sync
        for index, penalty_gradient in enumerate(self.l2_penalty.gradients(variables)):
            if penalty_gradient is None:
                continue
            if replica_num > 1:
                penalty_gradient = penalty_gradient / replica_num
            penalty_gradient = self.optimizer.scale_loss(penalty_gradient)
            gradient = gradients[index]
            gradients[index] = penalty_gradient if gradient is None else gradient + penalty_gradient
        self.optimizer.apply_gradients(zip(gradients, variables, strict=True))
        for name, value in values.items():
            self.loss_trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.loss_trackers.items()}
