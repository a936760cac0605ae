"""Schedule, P x K sampling and augmentation against plain reference computations."""

import functools
import itertools
import math

import numpy as np
import pytest
import tensorflow as tf

from callbacks import LearningRateSetter, LearningRateSettings, TrainingPhases
from datasets.sampling import SamplingSettings, TooFewIdentitiesError, iterate_identity_batches
from image_augmentation import (
    FILL_COLOR,
    AugmentationSettings,
    ReplicaShare,
    apply_augmentation,
    build_training_augmentation,
    sample_augmentation,
)
from image_augmentation.pipeline import replica_slices


def learning_rate_scheduler(epoch_index, epoch_num, **settings):
    return LearningRateSettings(**settings).learning_rate(epoch_index, epoch_num)


RESNET50 = dict(
    learning_rate_mode="default",
    learning_rate_start=2e-4,
    learning_rate_end=2e-4,
    learning_rate_base=2e-4,
    learning_rate_warmup_epochs=10,
    learning_rate_steady_epochs=30,
    learning_rate_drop_factor=10,
    learning_rate_lower_bound=2e-6,
)


def test_default_schedule_worked_resnet50_values():
    def rate(epoch_index):
        return learning_rate_scheduler(epoch_index, 200, **RESNET50)

    assert rate(0) == pytest.approx(2e-6)
    assert rate(9) == pytest.approx(2e-4)
    assert rate(5) == pytest.approx(2e-6 + (2e-4 - 2e-6) * 5 / 9)
    assert all(rate(e) == pytest.approx(2e-4) for e in range(10, 40))
    assert all(rate(e) == pytest.approx(2e-5) for e in range(40, 70))
    assert all(rate(e) == pytest.approx(2e-6) for e in range(70, 200))


def test_other_modes_follow_their_formulas():
    common = dict(RESNET50, learning_rate_lower_bound=1e-6)
    for e in range(20):
        cosine = learning_rate_scheduler(
            e,
            20,
            **dict(
                common,
                learning_rate_mode="cosine",
                learning_rate_start=1e-3,
                learning_rate_end=1e-5,
            ),
        )
        assert cosine == pytest.approx(
            (1e-3 - 1e-5) / 2 * math.cos(math.pi * e / 19) + (1e-3 + 1e-5) / 2
        )
        linear = learning_rate_scheduler(
            e,
            20,
            **dict(
                common,
                learning_rate_mode="linear",
                learning_rate_start=1e-3,
                learning_rate_end=1e-4,
            ),
        )
        assert linear == pytest.approx(1e-3 + (1e-4 - 1e-3) * e / 19)
        warmup = learning_rate_scheduler(
            e,
            20,
            **dict(
                common,
                learning_rate_mode="warmup",
                learning_rate_start=1e-5,
                learning_rate_end=1e-3,
                learning_rate_warmup_epochs=5,
            ),
        )
        assert warmup == pytest.approx(1e-5 + (1e-3 - 1e-5) * e / 4 if e < 5 else 1e-3)
    # Drop factor 0: derived so that base reaches the lower bound at the end: (99 - 10) // 30 = 2
    # drops, each by sqrt(1000).
    derived = dict(common, learning_rate_drop_factor=0, learning_rate_lower_bound=2e-7)
    assert learning_rate_scheduler(99, 100, **derived) == pytest.approx(2e-7)
    assert learning_rate_scheduler(40, 100, **derived) == pytest.approx(2e-4 / 1000 ** (1 / 2))
    with pytest.raises(ValueError, match="constant needs"):
        learning_rate_scheduler(
            0, 10, **dict(common, learning_rate_mode="constant", learning_rate_end=1e-3)
        )
    with pytest.raises(ValueError, match="--learning_rate_mode must be one of .*; got 'step'"):
        learning_rate_scheduler(0, 10, **dict(common, learning_rate_mode="step"))


def test_schedule_restarts_at_each_phase_in_overall_epochs():
    phases = TrainingPhases.of(freeze_backbone_for_N_epochs=3, epoch_num=50)
    assert [(p.name, p.first_epoch, p.end_epoch) for p in phases] == [
        ("frozen backbone", 0, 3),
        ("whole model", 3, 53),
    ]
    model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(2,))])
    model.compile(optimizer=tf.keras.optimizers.Adam(), loss="mse")
    setter = LearningRateSetter(LearningRateSettings(**RESNET50), phases)
    setter.set_model(model)
    for epoch, (epoch_index, epoch_num) in {0: (0, 3), 2: (2, 3), 3: (0, 50), 52: (49, 50)}.items():
        setter.on_epoch_begin(epoch)
        expected = learning_rate_scheduler(epoch_index, epoch_num, **RESNET50)
        assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(expected)
    assert [p.name for p in TrainingPhases.of(freeze_backbone_for_N_epochs=0, epoch_num=2)] == [
        "whole model"
    ]


def test_identity_batches_are_p_by_k():
    rng = np.random.default_rng(0)
    labels = np.concatenate(
        [np.full(rng.integers(4, 12), label) for label in range(20)]
        + [np.full(3, 20), np.full(1, 21)]
    )  # two identities too small
    batches = iterate_identity_batches(labels, SamplingSettings(6, 4), seed=1)
    seen = set()
    for _ in range(200):
        batch = next(batches)
        assert batch.shape == (24,)
        batch_labels = labels[batch].reshape(6, 4)
        assert (batch_labels == batch_labels[:, :1]).all()  # K consecutive of one identity
        assert len(set(batch_labels[:, 0])) == 6  # P different identities
        assert all(len(set(row)) == 4 for row in batch.reshape(6, 4))  # K different images
        seen.update(batch.tolist())
    assert not {20, 21} & set(labels[list(seen)].tolist())
    first = next(iterate_identity_batches(labels, SamplingSettings(6, 4), seed=1))
    assert np.array_equal(
        first, next(iterate_identity_batches(labels, SamplingSettings(6, 4), seed=1))
    )


def test_too_few_identities_stop_at_once_with_the_numbers():
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2])
    with pytest.raises(TooFewIdentitiesError, match=r"needs 3 identities.*4 images.*only 2 of 3"):
        next(iterate_identity_batches(labels, SamplingSettings(3, 4)))


def test_augmentation_is_seeded_and_fills_with_the_mean_colour():
    image = np.random.default_rng(0).integers(0, 255, (40, 20, 3), dtype=np.uint8)
    first = build_training_augmentation(40, 20, seed=3)(image=image)["image"]
    again = build_training_augmentation(40, 20, seed=3)(image=image)["image"]
    assert first.shape == (40, 20, 3) and first.dtype == np.uint8
    assert np.array_equal(first, again)
    fill = np.round(FILL_COLOR).astype(np.uint8)
    erased_pixels = 0
    gray_pixels = 0
    for seed in range(30):
        erased = build_training_augmentation(
            40, 20, patch_replacement_probability=0, random_erasing_probability=1, seed=seed
        )(image=image)["image"]
        erased_pixels += (erased == fill).all(axis=2).sum()
        grayed = build_training_augmentation(
            40, 20, patch_replacement_probability=1, random_erasing_probability=0, seed=seed
        )(image=image)["image"]
        gray_pixels += (
            (grayed[..., 0] == grayed[..., 1]) & (grayed[..., 1] == grayed[..., 2])
        ).sum()
    # Patches cover 2% to 40% of the image; random pixels are almost never gray or the fill.
    assert erased_pixels > 30 * 0.02 * 800
    assert gray_pixels > 30 * 0.02 * 800
    untouched = build_training_augmentation(
        40, 20, patch_replacement_probability=0, random_erasing_probability=0, seed=0
    )
    padded_pixels = sum(
        ((untouched(image=image)["image"] == fill).all(axis=2)).sum() for _ in range(10)
    )
    assert padded_pixels > 0  # the 5% padding shows at the border after the random crop


def reference_augmentation(image, parameters):
    """One image, the plain way: pad each channel with its fill value, crop, mirror, then the
    two rectangles (grayscale as the ITU-R BT.601 luma, then the fill colour)."""
    (top, left, mirror, gray_top, gray_left, gray_height, gray_width) = parameters[:7]
    erased_top, erased_left, erased_height, erased_width = parameters[7:]
    height, width = image.shape[:2]
    pad_height, pad_width = int(0.05 * height), int(0.05 * width)
    fill = [124, 117, 104]  # FILL_COLOR rounded
    padded = np.stack(
        [
            np.pad(
                image[..., c],
                [
                    (pad_height // 2, pad_height - pad_height // 2),
                    (pad_width // 2, pad_width - pad_width // 2),
                ],
                constant_values=fill[c],
            )
            for c in range(3)
        ],
        axis=-1,
    )
    result = padded[top : top + height, left : left + width].copy()
    if mirror:
        result = result[:, ::-1].copy()
    patch = result[gray_top : gray_top + gray_height, gray_left : gray_left + gray_width]
    patch[...] = np.round(patch @ np.array([0.299, 0.587, 0.114]))[..., None]
    result[erased_top : erased_top + erased_height, erased_left : erased_left + erased_width] = fill
    return result


def test_batch_augmentation_matches_a_plain_reference():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 40, 20, 3), dtype=np.uint8)
    parameters = np.stack(
        [
            sample_augmentation(
                np.random.default_rng([5, index]),
                image_size=(40, 20),
                settings=AugmentationSettings(),
            )
            for index in range(12)
        ]
    )
    assert parameters[:, 2].min() == 0 and parameters[:, 2].max() == 1  # both mirror cases
    augmented = apply_augmentation(images, parameters)
    for image, values, result in zip(images, parameters, augmented, strict=True):
        expected = reference_augmentation(image, values)
        difference = np.abs(result.astype(int) - expected)
        gray_top, gray_left, gray_height, gray_width = values[3:7]
        gray = difference[gray_top : gray_top + gray_height, gray_left : gray_left + gray_width]
        assert (
            gray.size == 0 or gray.max() <= 1
        )  # OpenCV's fixed-point luma may round the other way
        gray[...] = 0
        assert difference.max() == 0


def test_pipeline_augmentation_has_the_albumentations_distribution():
    """The pipeline draws parameters and applies them; albumentations draws its own. Over 400
    noise images each, the padded and erased area (pixels of the fill colour) and the grayscale
    area agree, for each patch probability."""
    image = np.random.default_rng(0).integers(0, 256, (64, 32, 3), dtype=np.uint8)
    fill = np.round(FILL_COLOR).astype(np.uint8)

    def area_fractions(images):
        filled = (images == fill).all(axis=-1).mean()
        gray = ((images[..., 0] == images[..., 1]) & (images[..., 1] == images[..., 2])).mean()
        return filled, gray

    for patch_probability, erasing_probability in ((0.8, 0.8), (0.0, 1.0), (1.0, 0.0)):
        settings = AugmentationSettings(
            patch_replacement_probability=patch_probability,
            random_erasing_probability=erasing_probability,
        )
        parameters = np.stack(
            [
                sample_augmentation(
                    np.random.default_rng([1, n]), image_size=(64, 32), settings=settings
                )
                for n in range(400)
            ]
        )
        ours = apply_augmentation(np.repeat(image[None], 400, axis=0), parameters)
        albumentations = np.stack(
            [
                build_training_augmentation(
                    64,
                    32,
                    patch_replacement_probability=patch_probability,
                    random_erasing_probability=erasing_probability,
                    seed=n,
                )(image=image)["image"]
                for n in range(400)
            ]
        )
        np.testing.assert_allclose(area_fractions(ours), area_fractions(albumentations), atol=0.02)
        assert abs(parameters[:, 2].mean() - 0.5) < 0.08  # mirrored half the time


def test_replica_slices_make_the_single_device_batches_and_resume_exactly():
    labels = np.repeat(np.arange(12), 5)
    settings = AugmentationSettings()
    draw = functools.partial(sample_augmentation, image_size=(40, 20), settings=settings)

    def slices(share, first_step=0, count=6):
        return list(
            itertools.islice(
                replica_slices(
                    labels,
                    SamplingSettings(4, 2),
                    seed=3,
                    first_step=first_step,
                    share=share,
                    draw_augmentation=draw,
                ),
                count,
            )
        )

    whole = slices(ReplicaShare())
    halves = slices(ReplicaShare((0, 1), 2), count=12)
    for step, (rows, parameters) in enumerate(whole):
        first, second = halves[2 * step], halves[2 * step + 1]
        np.testing.assert_array_equal(rows, np.concatenate([first[0], second[0]]))
        np.testing.assert_array_equal(parameters, np.concatenate([first[1], second[1]]))
        assert len(set(labels[first[0]]) & set(labels[second[0]])) == 0  # whole identities
    # Two workers with one replica each: worker 1 makes the second halves only.
    worker = slices(ReplicaShare((1,), 2), count=6)
    for step in range(6):
        np.testing.assert_array_equal(worker[step][0], halves[2 * step + 1][0])
    # A resumed stream starts with the uninterrupted stream's batch.
    resumed = slices(ReplicaShare(), first_step=4, count=2)
    for (rows, parameters), (expected_rows, expected_parameters) in zip(
        resumed, whole[4:], strict=True
    ):
        np.testing.assert_array_equal(rows, expected_rows)
        np.testing.assert_array_equal(parameters, expected_parameters)
