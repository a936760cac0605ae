"""The small layers of the FlipReID network, each serialisable.

Under a mixed-precision policy the numerically sensitive ones compute in float32 whatever the
policy (GeM powers and pooling, clipping, the mean and the flipping loss): their inputs are cast
to float32 by Keras.
"""

import contextlib

import tensorflow as tf

register = tf.keras.utils.register_keras_serializable(package="flipreid")


@register
class GeneralizedMeanPooling(tf.keras.layers.Layer):
    """GeM (Radenovic et al., TPAMI 2019): (mean over H, W of max(x, eps)^p)^(1/p), p trainable.

    p = 1 is average pooling and p -> infinity max pooling. (batch, H, W, C) -> (batch, C).
    """

    def __init__(self, initial_power: float = 1.0, epsilon: float = 1e-6, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.initial_power = initial_power
        self.epsilon = epsilon

    def build(self, input_shape):
        self.power = self.add_weight(
            name="power",
            shape=(),
            dtype=tf.float32,
            initializer=tf.keras.initializers.Constant(self.initial_power),
            trainable=True,
        )
        super().build(input_shape)

    def call(self, inputs):
        # One read of p per call: its gradient then sums two terms per call, which add the same
        # in either order (applications/training_model.py).
        power = tf.convert_to_tensor(self.power)
        inputs = tf.maximum(tf.cast(inputs, tf.float32), self.epsilon)
        pooled = tf.reduce_mean(tf.pow(inputs, power), axis=[1, 2])
        return tf.pow(pooled, 1.0 / power)

    def get_config(self):
        return {
            **super().get_config(),
            "initial_power": self.initial_power,
            "epsilon": self.epsilon,
        }


@register
class ClipValues(tf.keras.layers.Layer):
    def __init__(self, min_value: float = 0.0, max_value: float = 1.0, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.min_value = min_value
        self.max_value = max_value

    def call(self, inputs):
        return tf.clip_by_value(inputs, self.min_value, self.max_value)

    def get_config(self):
        return {**super().get_config(), "min_value": self.min_value, "max_value": self.max_value}


@register
class HorizontalStripes(tf.keras.layers.Layer):
    """(batch, H, W, C) -> region_num stripes along H; the last takes any remainder."""

    def __init__(self, region_num: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.region_num = region_num

    def call(self, inputs):
        height = inputs.shape[1]
        stripe_height = height // self.region_num
        starts = [index * stripe_height for index in range(self.region_num)]
        stops = starts[1:] + [height]
        return [inputs[:, start:stop] for start, stop in zip(starts, stops, strict=True)]

    def get_config(self):
        return {**super().get_config(), "region_num": self.region_num}


@register
class HorizontalFlip(tf.keras.layers.Layer):
    """Mirror images left to right: (batch, H, W, C).

    Called on [images, *tensors], it mirrors the images after those tensors are computed (they
    are not used otherwise): in a Keras functional model, a layer runs after its inputs.
    """

    def call(self, inputs):
        images = inputs[0] if isinstance(inputs, list | tuple) else inputs
        return tf.reverse(images, axis=[2])


@register
class FlipAverage(tf.keras.layers.Layer):
    """FlipReID: the mean of each embedding and its mirror's, plus the flipping loss.

    Flipping loss = sum over embeddings of the batch mean of the mean squared error between
    an image's embedding and its mirror's; added to the model's losses and reported as the
    metric "flipping".
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def call(self, inputs):
        embeddings, mirrored_embeddings = inputs
        means, flipping_losses = [], []
        for embedding, mirrored in zip(embeddings, mirrored_embeddings, strict=True):
            means.append((embedding + mirrored) / 2.0)
            squared_error = tf.square(
                tf.cast(embedding, tf.float32) - tf.cast(mirrored, tf.float32)
            )
            flipping_losses.append(tf.reduce_mean(squared_error))
        flipping_loss = tf.add_n(flipping_losses)
        self.add_loss(flipping_loss)
        self.add_metric(flipping_loss, name="flipping")
        return means


class BackboneBlock(tf.keras.layers.Layer):
    """A tf2cv block under a name of ours: two copies of a stage need distinct names, and
    freezing one block means setting `trainable` on its wrapper."""

    def __init__(self, block: tf.keras.layers.Layer, **kwargs):
        super().__init__(**kwargs)
        self.block = block

    def call(self, inputs, training=None):
        return self.block(inputs, training=training)


@contextlib.contextmanager
def all_blocks_trainable(model: tf.keras.Model):
    """Keras 2 .h5 files list a layer's trainable weights before its non-trainable ones, so a
    file written with a frozen backbone would not load into an unfrozen one. Weights are saved
    and loaded with every block trainable, then the freezing is restored."""
    blocks = [layer for layer in model.layers if isinstance(layer, BackboneBlock)]
    states = [block.trainable for block in blocks]
    for block in blocks:
        block.trainable = True
    try:
        yield
    finally:
        for block, state in zip(blocks, states, strict=True):
            block.trainable = state
