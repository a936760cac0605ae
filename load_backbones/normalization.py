"""The normalisation layers of the 2021 backbones, as Keras 2 computed them, for Keras 3.

BatchNormalization: Keras 3's own layer normalises with unfused ops and updates the moving
variance with the batch's population variance. The 2021 release (and this project's Keras 2
path) used TensorFlow's fused kernel, which updates it with the sample variance (Bessel's
correction, n / (n - 1), n = batch x height x width). On the TensorFlow backend this layer calls
that same kernel (same numbers, and oneDNN fuses it into the convolution as before); on other
backends it computes the same formulas with keras.ops.

InstanceNormalization: IBN-Net's per-image, per-channel normalisation (Pan et al., ECCV 2018),
with a scale and an offset per channel, epsilon 1e-5 as tf2cv's.
"""

import keras
from keras import ops

register = keras.saving.register_keras_serializable(package="flipreid")


@register
class BatchNormalization(keras.layers.BatchNormalization):
    """keras.layers.BatchNormalization with the fused kernel's moving-variance update.

    Defaults are tf2cv's (MXNet's): momentum 0.9, epsilon 1e-5, channels last. Inputs that are
    not images (batch, C) take Keras 2's unfused path, as Keras 2 did.
    """

    def __init__(self, momentum: float = 0.9, epsilon: float = 1e-5, **kwargs):
        super().__init__(momentum=momentum, epsilon=epsilon, **kwargs)

    def call(self, inputs, training=None, mask=None):
        if mask is not None or self.renorm or self.axis not in (-1, len(inputs.shape) - 1):
            raise ValueError(
                "flipreid's BatchNormalization supports channels-last inputs without masks or "
                "renormalisation (the 2021 backbones' use); use keras.layers.BatchNormalization."
            )
        update_statistics = bool(training) and self.trainable
        fusable = self.compute_dtype != "float64"  # the fused kernel has no float64 version
        if keras.backend.backend() == "tensorflow" and len(inputs.shape) == 4 and fusable:
            return self._fused_call(inputs, update_statistics=update_statistics)
        return self._ops_call(inputs, update_statistics=update_statistics)

    def _fused_call(self, inputs, *, update_statistics: bool):
        import tensorflow as tf  # the TensorFlow backend's fused kernel, as tf_keras called it

        parameters = [
            tf.cast(variable, tf.float32)
            for variable in (self.gamma, self.beta, self.moving_mean, self.moving_variance)
        ]
        gamma, beta, moving_mean, moving_variance = parameters
        outputs, new_mean, new_variance = tf.compat.v1.nn.fused_batch_norm(
            inputs,
            gamma,
            beta,
            mean=moving_mean,
            variance=moving_variance,
            epsilon=self.epsilon,
            is_training=update_statistics,
            exponential_avg_factor=1.0 - self.momentum if update_statistics else 1.0,
        )
        if update_statistics:
            self.moving_mean.assign(new_mean)
            self.moving_variance.assign(new_variance)
        return ops.cast(outputs, self.compute_dtype)

    def _ops_call(self, inputs, *, update_statistics: bool):
        """Keras 2's unfused path (tf.nn.moments, tf.nn.batch_normalization, moving averages
        updated as v -= (v - value) * (1 - momentum)), which it took for inputs that are not
        images (the classification heads' BN); for images on other backends than TensorFlow,
        the fused kernel's update (sample variance, v = (1 - f) v + f value). In float32 under
        a mixed policy, in float64 under float64 (the tests' reference)."""
        dtype = "float64" if self.compute_dtype == "float64" else "float32"
        inputs = ops.cast(inputs, dtype)
        if update_statistics:
            reduction_axes = list(range(len(inputs.shape) - 1))
            mean, variance = ops.moments(inputs, axes=reduction_axes)
            decay = 1.0 - self.momentum
            if len(inputs.shape) == 4:
                sample_size = ops.cast(ops.size(inputs) // ops.size(mean), dtype)
                sample_variance = variance * (sample_size / (sample_size - 1.0))
                self.moving_mean.assign(self.moving_mean * (1.0 - decay) + mean * decay)
                self.moving_variance.assign(
                    self.moving_variance * (1.0 - decay) + sample_variance * decay
                )
            else:
                self.moving_mean.assign_sub((self.moving_mean - mean) * decay)
                self.moving_variance.assign_sub((self.moving_variance - variance) * decay)
        else:
            mean, variance = self.moving_mean, self.moving_variance
        outputs = ops.batch_normalization(
            inputs,
            mean,
            variance,
            axis=-1,
            offset=self.beta,
            scale=self.gamma,
            epsilon=self.epsilon,
        )
        return ops.cast(outputs, self.compute_dtype)


@register
class InstanceNormalization(keras.layers.Layer):
    """(batch, H, W, C) -> each image's channels normalised over H x W, then gamma * x + beta."""

    def __init__(self, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        channels = input_shape[-1]
        self.gamma = self.add_weight(name="gamma", shape=(channels,), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros")

    def call(self, inputs):
        inputs = ops.cast(inputs, "float32")
        mean = ops.mean(inputs, axis=(1, 2), keepdims=True)
        variance = ops.mean(
            ops.square(inputs - ops.stop_gradient(mean)), axis=(1, 2), keepdims=True
        )
        # tf.nn.batch_normalization's order of operations, as tf2cv's layer used
        scale = ops.rsqrt(variance + self.epsilon) * ops.cast(self.gamma, "float32")
        outputs = inputs * scale + (ops.cast(self.beta, "float32") - mean * scale)
        return ops.cast(outputs, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}
