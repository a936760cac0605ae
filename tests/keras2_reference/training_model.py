"""The training model's class: Keras' functional model with a training step whose gradients
repeat bit for bit.

A weight of the FlipReID network gets gradient terms from the image's pass and the mirror's
pass, and one from its L2 penalty. TensorFlow sums three or more terms of one tensor's gradient
with AddN, which accumulates into whichever input buffer it may reuse at that instant and moves
that input first: the order of the sum, and so its last bit, then changes from process to
process, and the batch-hard triplet loss amplifies it into other mAPs. Two terms add the same
in either order. So the penalty stays out of back-propagation: its value is part of the loss
(as reported), and its gradient, 2 * factor * w, is added to each weight's back-propagated
gradient (image + mirror) afterwards, always in that order. Grappler's arithmetic optimizer
would merge the two additions back into one AddN of three; training.configure_devices, which
every entry point calls first, switches it off (docs/method.md, "The same digits every time").
"""

import tensorflow as tf

from settings import RegularizationSettings

from .l2 import L2Penalty


class TrainingModel(tf.keras.Model):
    """A functional model (inputs, outputs) with L2 penalties as in the module docstring."""

    def __init__(self, inputs, outputs, *, regularization: RegularizationSettings, **kwargs):
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.l2_penalty = L2Penalty.of(self, regularization)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
        """The outputs' losses, the model's own losses (the flipping loss) and the penalty's
        value, which is not differentiated."""
        penalty = tf.stop_gradient(self.l2_penalty.value())
        return self.compiled_loss(
            y, y_pred, sample_weight, regularization_losses=[*self.losses, penalty]
        )

    def train_step(self, data):
        images, targets, sample_weight = tf.keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            predictions = self(images, training=True)
            loss = self.compute_loss(images, targets, predictions, sample_weight)
        variables = self.trainable_variables
        gradients = [
            gradient for gradient, _ in self.optimizer.compute_gradients(loss, variables, tape=tape)
        ]
        # Keras scales the losses outside the outputs' by 1 / replicas on each replica, and the
        # replicas' gradients are summed; the penalty's gradient is scaled the same.
        replica_num = tf.distribute.get_strategy().num_replicas_in_sync
        for index, penalty_gradient in enumerate(self.l2_penalty.gradients(variables)):
            if penalty_gradient is None:
                continue
            if replica_num > 1:
                penalty_gradient = penalty_gradient / replica_num
            gradient = gradients[index]
            gradients[index] = penalty_gradient if gradient is None else gradient + penalty_gradient
        self.optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return self.compute_metrics(images, targets, predictions, sample_weight)
