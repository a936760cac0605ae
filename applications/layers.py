"""The small layers of the FlipReID network in Keras 3 (keras.ops: any backend), each computing
what its namesake in the Keras 2 versions of this program computed, operation for operation
(tests/keras2_reference/layers.py keeps those).

Under a mixed-precision policy the numerically sensitive ones compute in float32 whatever the
policy (preprocessing, GeM powers and pooling, clipping, the mean and the flipping loss).
"""

import keras
from keras import ops

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

register = keras.saving.register_keras_serializable(package="flipreid")


@register
class TorchPreprocessing(keras.layers.Layer):
    """0..255 RGB (any dtype) -> (pixels / 255 - mean) / std in float32: ImageNet's mean and
    standard deviation, as tf2cv's weights expect, or a keras-hub preset's own (CLIP's)."""

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD, **kwargs):
        super().__init__(**kwargs)
        self.mean = tuple(mean)
        self.std = tuple(std)

    def call(self, inputs):
        images = ops.cast(inputs, "float32") / 255.0
        mean = ops.convert_to_tensor(self.mean, dtype="float32")
        std = ops.convert_to_tensor(self.std, dtype="float32")
        return (images - mean) / std

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std}


@register
class GeneralizedMeanPooling(keras.layers.Layer):
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
            dtype="float32",
            initializer=keras.initializers.Constant(self.initial_power),
            trainable=True,
        )

    def call(self, inputs):
        power = ops.convert_to_tensor(self.power)  # read once: see applications/layers.py
        inputs = ops.maximum(ops.cast(inputs, "float32"), self.epsilon)
        pooled = ops.mean(ops.power(inputs, power), axis=[1, 2])
        return ops.power(pooled, 1.0 / power)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {
            **super().get_config(),
            "initial_power": self.initial_power,
            "epsilon": self.epsilon,
        }


@register
class ClipValues(keras.layers.Layer):
    def __init__(self, min_value: float = 0.0, max_value: float = 1.0, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.min_value = min_value
        self.max_value = max_value

    def call(self, inputs):
        return ops.clip(inputs, self.min_value, self.max_value)

    def get_config(self):
        return {**super().get_config(), "min_value": self.min_value, "max_value": self.max_value}


@register
class HorizontalStripes(keras.layers.Layer):
    """(batch, H, W, C) -> region_num stripes along H; the last takes any remainder."""

    def __init__(self, region_num: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.region_num = region_num

    def stripe_bounds(self, height: int) -> list[tuple[int, int]]:
        stripe_height = height // self.region_num
        starts = [index * stripe_height for index in range(self.region_num)]
        return list(zip(starts, [*starts[1:], height], strict=True))

    def call(self, inputs):
        return [inputs[:, start:stop] for start, stop in self.stripe_bounds(inputs.shape[1])]

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        return [
            (batch, stop - start, width, channels) for start, stop in self.stripe_bounds(height)
        ]

    def get_config(self):
        return {**super().get_config(), "region_num": self.region_num}


@register
class ClassToken(keras.layers.Layer):
    """A ViT's class token, its first: (batch, tokens, C) -> (batch, C) in float32."""

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def call(self, inputs):
        return ops.cast(inputs[:, 0], "float32")

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])


@register
class PatchGrid(keras.layers.Layer):
    """A ViT's patch tokens as a feature map: (batch, tokens, C) -> (batch, rows, cols, C), the
    last rows * cols tokens (the patches, row by row) kept, the class and register tokens
    before them left out."""

    def __init__(self, grid: tuple[int, int] = (1, 1), **kwargs):
        super().__init__(**kwargs)
        self.grid = tuple(grid)

    def call(self, inputs):
        rows, cols = self.grid
        patches = inputs[:, inputs.shape[1] - rows * cols :]
        return ops.reshape(patches, (-1, rows, cols, inputs.shape[-1]))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.grid, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "grid": self.grid}


@register
class HorizontalFlip(keras.layers.Layer):
    """Mirror images left to right: (batch, H, W, C).

    Called on [images, *tensors], it mirrors the images after those tensors are computed (they
    are not used otherwise): in a functional model, a layer runs after its inputs.
    """

    def call(self, inputs):
        images = inputs[0] if isinstance(inputs, list | tuple) else inputs
        return ops.flip(images, axis=2)

    def compute_output_shape(self, input_shape):
        return input_shape[0] if isinstance(input_shape, list) else input_shape


@register
class FlipAverage(keras.layers.Layer):
    """FlipReID: the mean of each embedding and its mirror's, plus the flipping loss.

    Flipping loss = sum over embeddings of the batch mean of the mean squared error between an
    image's embedding and its mirror's; added to the model's losses (Keras 3 has no add_metric:
    the training step reports it as "flipping").
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def call(self, inputs):
        embeddings, mirrored_embeddings = inputs
        means, flipping_losses = [], []
        for embedding, mirrored in zip(embeddings, mirrored_embeddings, strict=True):
            means.append((embedding + mirrored) / 2.0)
            squared_error = ops.square(
                ops.cast(embedding, "float32") - ops.cast(mirrored, "float32")
            )
            flipping_losses.append(ops.mean(squared_error))
        self.add_loss(flipping_sum(flipping_losses))
        return means

    def compute_output_shape(self, input_shape):
        return input_shape[0]


def flipping_sum(flipping_losses: list):
    """The embeddings' flipping losses summed in one AddN, as Keras 2's tf.add_n did."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.add_n(flipping_losses)
    return sum(flipping_losses[1:], flipping_losses[0])
