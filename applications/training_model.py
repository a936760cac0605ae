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

The step is the TensorFlow backend's (GradientTape, tf.distribute); on other backends Keras'
own step would be needed (not built yet: docs/devices.md, "Keras 3 and JAX").
"""

import keras
from keras import ops

from metric_learning import global_batch_hard_triplet_loss
from regularizers import L2Penalty
from settings import RegularizationSettings


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
        return self.track(values)

    def test_step(self, data):
        """The loss terms of a batch in inference mode (evaluate, test_on_batch)."""
        images, targets, _ = keras.utils.unpack_x_y_sample_weight(data)
        predictions = self(images, training=False)
        return self.track(self.flipreid_loss(targets, predictions)[1])

    def track(self, values: dict) -> dict:
        """Add one batch's loss terms to the running means; returns the means."""
        for name, value in values.items():
            self.loss_trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.loss_trackers.items()}
