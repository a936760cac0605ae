"""tf.data pipelines: P x K training batches and evaluation batches, uint8 images.

Decoding and resizing are TensorFlow ops (parallel, no Python per image); only the
albumentations augmentation runs in Python, through tf.numpy_function, in `workers` parallel
calls. Images are uint8 until the model casts them, which keeps host-to-device traffic small.
"""

import itertools
import threading

import numpy as np
import tensorflow as tf

from datasets.sampling import SamplingSettings, iterate_identity_batches

from .transforms import AugmentationSettings, build_training_augmentation


def decode_and_resize(image_file_path: tf.Tensor, image_height: int, image_width: int) -> tf.Tensor:
    """(image_height, image_width, 3) uint8 RGB; the aspect ratio is not kept (as in FlipReID)."""
    image = tf.io.decode_image(
        tf.io.read_file(image_file_path), channels=3, expand_animations=False
    )
    image = tf.image.resize(image, [image_height, image_width])
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


def find_readable_images(image_file_paths: list[str], workers: int = 5) -> np.ndarray:
    """Boolean mask of the files TensorFlow can read and decode (missing, empty, truncated or
    non-image files are False), checked in parallel."""
    paths = tf.constant(list(image_file_paths), dtype=tf.string)
    indices = tf.data.Dataset.range(len(image_file_paths))
    checked = indices.map(
        lambda index: (
            index,
            tf.shape(
                tf.io.decode_image(
                    tf.io.read_file(paths[index]), channels=3, expand_animations=False
                )
            ),
        ),
        num_parallel_calls=max(1, workers),
    ).ignore_errors()
    readable = np.zeros(len(image_file_paths), dtype=bool)
    for batch_indices, _ in checked.batch(4096):
        readable[batch_indices.numpy()] = True
    return readable


class SeededAugmentation:
    """The augmentation, reproducible under a seed whatever the thread scheduling: each image
    is augmented with seed (seed, element number), by a per-thread copy of the pipeline."""

    def __init__(self, *, image_size: tuple[int, int], settings: AugmentationSettings, seed: int):
        self.image_size, self.settings, self.seed = image_size, settings, seed
        self.local = threading.local()

    def __call__(self, image: np.ndarray, element_number: np.int64) -> np.ndarray:
        if not hasattr(self.local, "augmentation"):
            self.local.augmentation = build_training_augmentation(
                *self.image_size,
                patch_replacement_probability=self.settings.patch_replacement_probability,
                random_erasing_probability=self.settings.random_erasing_probability,
            )
        self.local.augmentation.set_random_seed(
            int(np.random.SeedSequence([self.seed, int(element_number)]).generate_state(1)[0])
        )
        return self.local.augmentation(image=image)["image"]


def build_training_dataset(
    *,
    image_file_paths: list[str],
    identity_labels: np.ndarray,
    class_num: int,
    output_names: list[str],
    sampling: SamplingSettings,
    image_size: tuple[int, int],
    augmentation: AugmentationSettings,
    workers: int = 5,
    seed: int = 0,
    first_step: int = 0,
) -> tf.data.Dataset:
    """Endless (images, targets) batches for the training model, from batch `first_step` of the
    run's stream on.

    The stream is a function of the seed alone: batch n (from 0 over the whole run) holds the
    same images with the same augmentation whether the run starts at 0 or resumes at n, which
    makes a resumed run exactly an uninterrupted one.

    images: (P * K, H, W, 3) uint8, with image_size = (H, W). targets: one per model output, in
    output_names order: the identity labels for "*_embedding" outputs (triplet loss), one-hot
    labels for the heads.
    """
    image_height, image_width = image_size
    paths = tf.constant(list(image_file_paths), dtype=tf.string)
    labels = tf.constant(np.asarray(identity_labels), dtype=tf.int64)
    batches = tf.data.Dataset.from_generator(
        lambda: itertools.islice(
            iterate_identity_batches(identity_labels, sampling, seed=seed), first_step, None
        ),
        output_signature=tf.TensorSpec([sampling.batch_size], tf.int64),
    )
    rows = batches.unbatch().enumerate(start=first_step * sampling.batch_size)
    images = rows.map(
        lambda number, row: (
            number,
            decode_and_resize(paths[row], image_height, image_width),
            labels[row],
        ),
        num_parallel_calls=max(1, workers),
    )
    if augmentation.use_data_augmentation_in_training:
        augment_image = SeededAugmentation(image_size=image_size, settings=augmentation, seed=seed)

        def augment(number, image, label):
            image = tf.numpy_function(augment_image, [image, number], tf.uint8, stateful=False)
            image.set_shape([image_height, image_width, 3])
            return number, image, label

        images = images.map(augment, num_parallel_calls=max(1, workers))

    def to_targets(numbers, images, labels):
        one_hot = tf.one_hot(labels, class_num)
        targets = tuple(labels if name.endswith("_embedding") else one_hot for name in output_names)
        return images, targets

    batched = images.batch(sampling.batch_size, drop_remainder=True)
    return batched.map(to_targets).prefetch(tf.data.AUTOTUNE)


def build_evaluation_dataset(
    image_file_paths: list[str],
    *,
    image_size: tuple[int, int],
    batch_size: int = 64,
    workers: int = 5,
) -> tf.data.Dataset:
    """(batch, H, W, 3) uint8 images in file order, image_size = (H, W)."""
    image_height, image_width = image_size
    return (
        tf.data.Dataset.from_tensor_slices(tf.constant(list(image_file_paths), dtype=tf.string))
        .map(
            lambda path: decode_and_resize(path, image_height, image_width),
            num_parallel_calls=max(1, workers),
        )
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
