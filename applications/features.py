"""Embeddings of image files with an inference model: the concatenation of its embeddings, or
with flipping the mean of the image's and its mirror's (FlipReID's test-time embedding)."""

from collections.abc import Iterator

import keras
import numpy as np
import tensorflow as tf

from image_augmentation import build_evaluation_dataset
from progress_lines import ExtractionProgress


def embed_images(inference_model: keras.Model, images, *, flip_averaged: bool):
    """(n, dimension) concatenated embeddings of (n, H, W, 3) RGB images; with flip_averaged,
    the mean of each image's and its mirror's. Image and mirror go through the network as one
    batch of 2n: one pass of every layer instead of two (benchmarks/extraction_benchmark.py),
    and the same digits, since an image's embedding does not depend on the rest of its batch
    in inference."""
    if not flip_averaged:
        return tf.concat(inference_model(images, training=False), axis=-1)
    both = tf.concat([images, tf.reverse(images, axis=[2])], axis=0)
    features = tf.concat(inference_model(both, training=False), axis=-1)
    original, mirrored = tf.split(features, 2, axis=0)
    return (original + mirrored) / 2.0


class FeatureExtractor:
    """extractor(paths) -> (len(paths), dimension) float32 features, in the order of paths."""

    def __init__(
        self,
        inference_model: keras.Model,
        *,
        use_horizontal_flipping: bool,
        workers: int = 5,
        batch_size: int = 64,
    ):
        self.inference_model = inference_model
        self.use_horizontal_flipping = use_horizontal_flipping
        self.workers, self.batch_size = workers, batch_size
        if keras.backend.backend() != "tensorflow":
            self.embed = self.embed_with_keras
        else:
            # One signature for every batch size: the last, partial batch is not traced again.
            height, width, channels = inference_model.input_shape[1:]
            self.embed = tf.function(
                self.embed_batch,
                input_signature=[tf.TensorSpec([None, height, width, channels], tf.uint8)],
            )

    def embed_batch(self, images):
        """(n, dimension) embeddings of (n, H, W, 3) uint8 images (embed_images)."""
        return embed_images(
            self.inference_model, images, flip_averaged=self.use_horizontal_flipping
        )

    def embed_with_keras(self, images) -> np.ndarray:
        """embed_batch on Keras' other backends: Keras' own compiled prediction (jax.jit on
        JAX) of the images, and of their mirrors in the same batch."""
        images = np.asarray(images)
        if self.use_horizontal_flipping:
            images = np.concatenate([images, images[:, :, ::-1]])
        features = np.concatenate(self.inference_model.predict_on_batch(images), axis=-1)
        if not self.use_horizontal_flipping:
            return features
        original, mirrored = np.split(features, 2)
        return (original + mirrored) / 2.0

    def __call__(self, image_file_paths) -> np.ndarray:
        """Prints a progress line (images done, images per second, time left) now and then
        while it works (progress_lines.py), so that a long extraction says how far it is."""
        batches = list(self.iterate_batches(image_file_paths))
        dimension = sum(output.shape[-1] for output in self.inference_model.outputs)
        if not batches:
            return np.zeros((0, dimension), np.float32)
        return np.concatenate(batches).astype(np.float32)

    def iterate_batches(self, image_file_paths) -> Iterator[np.ndarray]:
        """The features of the files a batch at a time, in order (with the progress lines), for
        a caller that reduces them as they come (tracklet means on video datasets)."""
        image_file_paths = list(image_file_paths)
        dataset = build_evaluation_dataset(
            image_file_paths,
            image_size=tuple(self.inference_model.input_shape[1:3]),
            batch_size=self.batch_size,
            workers=self.workers,
        )
        done = 0
        progress = ExtractionProgress(len(image_file_paths))
        for images in dataset:
            features = np.asarray(self.embed(images))
            done += len(features)
            progress.update(done)
            yield features
