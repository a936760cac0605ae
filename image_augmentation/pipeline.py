"""tf.data pipelines: P x K training batches and evaluation batches, uint8 images.

Files are read by TensorFlow and decoded and resized by OpenCV per image, as the 2021 release does
(image_files.py); the augmentation (OpenCV and NumPy, see transforms.py) runs once per batch;
both in `workers` parallel calls. Images are uint8 until
the model casts them, which keeps host-to-device traffic small.
"""

import functools
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from datasets.image_files import decode_and_resize_images
from datasets.sampling import iterate_identity_batches
from settings import AugmentationSettings, SamplingSettings

from .transforms import PARAMETER_NAMES, apply_augmentation, sample_augmentation


def decode_and_resize(contents: tf.Tensor, image_height: int, image_width: int) -> tf.Tensor:
    """(n, image_height, image_width, 3) uint8 RGB from the (n,) bytes of n image files, decoded
    and resized as the 2021 release does (image_files.py: OpenCV's decoder and bilinear
    resize)."""
    images = tf.numpy_function(
        functools.partial(
            decode_and_resize_images, image_height=image_height, image_width=image_width
        ),
        [contents],
        tf.uint8,
        stateful=False,
    )
    images.set_shape([contents.shape[0], image_height, image_width, 3])
    return images


@dataclass(frozen=True)
class ReplicaShare:
    """Which part of each global batch one input pipeline produces: the slices of the replicas
    `replica_ids` (in order) out of `replica_num` equal slices. Each slice holds whole
    identities when P divides by replica_num, since a batch lists its identities' K images
    one identity after another."""

    replica_ids: tuple[int, ...] = (0,)
    replica_num: int = 1

    @classmethod
    def of(cls, input_context: tf.distribute.InputContext) -> "ReplicaShare":
        """The share of the pipeline tf.distribute asks for (each pipeline feeds its worker's
        replicas, consecutive elements going to consecutive replicas)."""
        per_pipeline = input_context.num_replicas_in_sync // input_context.num_input_pipelines
        first = input_context.input_pipeline_id * per_pipeline
        return cls(tuple(range(first, first + per_pipeline)), input_context.num_replicas_in_sync)


def replica_slices(
    identity_labels: np.ndarray,
    sampling: SamplingSettings,
    *,
    seed: int,
    first_step: int,
    share: ReplicaShare,
    draw_augmentation,
    dataset_of_rows: np.ndarray | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(rows, augmentation parameters) of each of the share's replica slices of each global
    batch from batch first_step on. An image's parameters come from draw_augmentation(rng) with
    rng seeded by (seed, element number), where the element number counts images over the
    whole run: the same whatever the replica count or where the run started. dataset_of_rows:
    draw each batch from one training dataset (datasets.sampling)."""
    batches = iterate_identity_batches(
        identity_labels, sampling, seed=seed, dataset_of_rows=dataset_of_rows
    )
    slice_size = sampling.batch_size // share.replica_num
    for step, rows in enumerate(itertools.islice(batches, first_step, None), start=first_step):
        for replica_id in share.replica_ids:
            positions = np.arange(replica_id * slice_size, (replica_id + 1) * slice_size)
            parameters = [
                draw_augmentation(np.random.default_rng([seed, step * sampling.batch_size + p]))
                for p in positions
            ]
            yield rows[positions], np.stack(parameters)


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
    share: ReplicaShare = ReplicaShare(),
    dataset_of_rows: np.ndarray | None = None,
) -> tf.data.Dataset:
    """Endless (images, targets) batches for the training model, from batch `first_step` of the
    run's stream on; with several replicas, this pipeline's slices of each batch (`share`).

    The stream is a function of the seed alone: batch n (from 0 over the whole run) holds the
    same images with the same augmentation whether the run starts at 0 or resumes at n, and
    whatever the number of devices, which makes a resumed run exactly an uninterrupted one.
    dataset_of_rows: each image's training dataset, to draw each batch from one of them
    (--one_dataset_per_batch); None draws identities from the union.

    images: (P * K / replica_num, H, W, 3) uint8, with image_size = (H, W). targets: one per
    model output, in output_names order: the identity labels for "*_embedding" outputs (triplet
    loss), one-hot labels for the heads.
    """
    image_height, image_width = image_size
    paths = tf.constant(list(image_file_paths), dtype=tf.string)
    labels = tf.constant(np.asarray(identity_labels), dtype=tf.int64)
    slice_size = sampling.batch_size // share.replica_num
    slices = tf.data.Dataset.from_generator(
        lambda: replica_slices(
            identity_labels,
            sampling,
            seed=seed,
            first_step=first_step,
            share=share,
            draw_augmentation=functools.partial(
                sample_augmentation, image_size=image_size, settings=augmentation
            ),
            dataset_of_rows=dataset_of_rows,
        ),
        output_signature=(
            tf.TensorSpec([slice_size], tf.int64),
            tf.TensorSpec([slice_size, len(PARAMETER_NAMES)], tf.int32),
        ),
    )

    def read(row, parameters):
        return tf.io.read_file(paths[row]), labels[row], parameters

    def to_inputs(contents, labels, parameters):
        images = decode_and_resize(contents, image_height, image_width)
        if augmentation.use_data_augmentation_in_training:
            images = tf.numpy_function(apply_augmentation, [images, parameters], tf.uint8)
            images.set_shape([slice_size, image_height, image_width, 3])
        one_hot = tf.one_hot(labels, class_num)
        targets = tuple(labels if name.endswith("_embedding") else one_hot for name in output_names)
        return images, targets

    # Files are read one by one (TensorFlow's threads, no GIL); decoding, resizing and the
    # augmentation run once per batch, `workers` batches at a time.
    files = slices.unbatch().map(read, num_parallel_calls=max(1, workers))
    batched = files.batch(slice_size, drop_remainder=True)
    return batched.map(to_inputs, num_parallel_calls=max(1, workers)).prefetch(tf.data.AUTOTUNE)


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
        .map(tf.io.read_file, num_parallel_calls=max(1, workers))
        .batch(batch_size)
        .map(
            lambda contents: decode_and_resize(contents, image_height, image_width),
            num_parallel_calls=max(1, workers),
        )
        .prefetch(tf.data.AUTOTUNE)
    )
