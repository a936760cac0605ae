"""Schedule, P x K sampling and augmentation against plain reference computations."""

import functools
import glob
import itertools
import math
import os

import cv2
import keras
import numpy as np
import pytest
from conftest import TINY_SYNTHETIC

from callbacks import LearningRateSetter
from datasets import generate_synthetic_dataset
from datasets.sampling import TooFewIdentitiesError, iterate_identity_batches
from image_augmentation import (
    ERASING_COLOR,
    PADDING_COLOR,
    ReplicaShare,
    apply_augmentation,
    build_evaluation_dataset,
    build_training_dataset,
    find_readable_images,
    sample_augmentation,
)
from image_augmentation.pipeline import replica_slices
from settings import AugmentationSettings, LearningRateSettings, SamplingSettings, TrainingPhases


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
    # Drop factor 0: the 2021 formula, exp(S / (N - 2 W) * ln(base / lower bound)) = exp(30 / 80
    # * ln(1000)) = 13.34 here; e = 40 is one period after the warm-up, e = 99 two (89 / 30).
    derived = dict(common, learning_rate_drop_factor=0, learning_rate_lower_bound=2e-7)
    factor = math.exp(30 / (100 - 2 * 10) * math.log(2e-4 / 2e-7))
    assert factor == pytest.approx(13.335, rel=1e-4)
    assert learning_rate_scheduler(40, 100, **derived) == pytest.approx(2e-4 / factor)
    assert learning_rate_scheduler(99, 100, **derived) == pytest.approx(2e-4 / factor**2)
    with pytest.raises(ValueError, match="constant needs"):
        learning_rate_scheduler(
            0, 10, **dict(common, learning_rate_mode="constant", learning_rate_end=1e-3)
        )
    with pytest.raises(ValueError, match="--learning_rate_mode must be one of .*; got 'step'"):
        learning_rate_scheduler(0, 10, **dict(common, learning_rate_mode="step"))


def test_schedule_restarts_at_each_phase_in_overall_epochs():
    """Both phases compute the schedule with N = --epoch_num (50 here), the index restarting at
    each phase's first epoch: the frozen phase runs the first epochs of the long schedule."""
    phases = TrainingPhases.of(freeze_backbone_for_N_epochs=3, epoch_num=50)
    assert [(p.name, p.first_epoch, p.end_epoch) for p in phases] == [
        ("frozen backbone", 0, 3),
        ("whole model", 3, 53),
    ]
    model = keras.Sequential([keras.layers.Dense(1, input_shape=(2,))])
    model.compile(optimizer=keras.optimizers.Adam(), loss="mse")
    cosine = dict(
        RESNET50, learning_rate_mode="cosine", learning_rate_start=1e-3, learning_rate_end=1e-5
    )
    setter = LearningRateSetter(LearningRateSettings(**cosine), phases)
    setter.set_model(model)
    for epoch, epoch_index in {0: 0, 2: 2, 3: 0, 52: 49}.items():
        setter.on_epoch_begin(epoch)
        expected = (1e-3 - 1e-5) / 2 * math.cos(math.pi * epoch_index / 49) + (1e-3 + 1e-5) / 2
        assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(expected)
    assert [p.name for p in TrainingPhases.of(freeze_backbone_for_N_epochs=0, epoch_num=2)] == [
        "whole model"
    ]


def test_frozen_phase_of_the_seed_commands_runs_the_long_schedules_first_epochs():
    """20 frozen + 200 epochs, as the seed's commands: each mode's rate at frozen epochs 0, 10
    and 19, by hand from the 2021 release's formulas with N = 200 (its one LearningRateScheduler
    gets epoch_num = --epoch_num for both fits)."""
    phases = TrainingPhases.of(freeze_backbone_for_N_epochs=20, epoch_num=200)
    model = keras.Sequential([keras.layers.Dense(1, input_shape=(2,))])
    model.compile(optimizer=keras.optimizers.Adam(), loss="mse")
    cases = {
        "cosine": (
            dict(learning_rate_start=2e-4, learning_rate_end=2e-6),
            # (start - end) / 2 * cos(pi e / 199) + (start + end) / 2
            {0: 2e-4, 10: 1.98769e-4, 19: 1.95580e-4},
        ),
        "linear": (
            dict(learning_rate_start=2e-4, learning_rate_end=2e-5),
            # (end - start) / 199 * e + start
            {0: 2e-4, 10: 1.90955e-4, 19: 1.82814e-4},
        ),
        "warmup": (
            dict(learning_rate_start=2e-6, learning_rate_end=2e-4, learning_rate_warmup_epochs=10),
            # min((end - start) / 9 * e + start, end)
            {0: 2e-6, 5: 1.12e-4, 10: 2e-4, 19: 2e-4},
        ),
        "default": (
            dict(learning_rate_drop_factor=0),
            # warm-up from the lower bound, then base: the first drop comes at e = 40
            {0: 2e-6, 5: 1.12e-4, 10: 2e-4, 19: 2e-4},
        ),
        "constant": (dict(learning_rate_start=3e-4, learning_rate_end=3e-4), {0: 3e-4, 19: 3e-4}),
    }
    for mode, (flags, expected) in cases.items():
        settings = LearningRateSettings(**dict(RESNET50, learning_rate_mode=mode, **flags))
        setter = LearningRateSetter(settings, phases)
        setter.set_model(model)
        for epoch, rate in expected.items():
            setter.on_epoch_begin(epoch)
            found = float(model.optimizer.learning_rate.numpy())
            assert found == pytest.approx(rate, rel=1e-4), (mode, epoch)
    # The derived drop factor, later in the whole-model phase: exp(30 / 180 * ln(100)) = 2.154
    # per 30 epochs, so at phase epoch 100 (three drops) base / 2.154^3 = 2e-4 / 10 = 2e-5.
    settings = LearningRateSettings(**dict(RESNET50, learning_rate_drop_factor=0))
    assert settings.learning_rate(100, 200) == pytest.approx(2e-5, rel=1e-6)
    assert settings.learning_rate(190, 200) == pytest.approx(2e-6, rel=1e-6)  # floored
    with pytest.raises(ValueError, match="--epoch_num - 2 \\* --learning_rate_warmup_epochs"):
        settings.check_epoch_num(20)


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


def release_2021_draws(rng, height, width, *, patch_probability, erasing_probability):
    """The 2021 release's augmentation draws, transcribed plainly from its code: albumentations
    0.5's PadIfNeeded + RandomCrop (offset int((padded - size) * u)), HorizontalFlip(p=0.5), and
    its own patch functions (area uniform in 0.02..0.4, aspect ratio uniform in 0.3..1/0.3, up
    to 100 attempts, corner from np.random.randint with an exclusive upper bound). Returns
    (crop_top, crop_left, mirror, gray rectangle or None, erased rectangle or None)."""
    pad_height, pad_width = int(height * 0.05), int(width * 0.05)
    crop_top = int(((height + pad_height) - height) * rng.random())
    crop_left = int(((width + pad_width) - width) * rng.random())
    mirror = rng.random() < 0.5

    def patch():
        for _ in range(100):
            target_area = rng.uniform(0.02, 0.4) * height * width
            aspect_ratio = rng.uniform(0.3, 1 / 0.3)
            erasing_height = int(np.round(np.sqrt(target_area * aspect_ratio)))
            erasing_width = int(np.round(np.sqrt(target_area / aspect_ratio)))
            if erasing_width < width and erasing_height < height:
                top = rng.randint(0, height - erasing_height)
                left = rng.randint(0, width - erasing_width)
                return top, left, erasing_height, erasing_width
        return None

    gray = patch() if rng.random() < patch_probability else None
    erased = patch() if rng.random() < erasing_probability else None
    return crop_top, crop_left, mirror, gray, erased


def test_augmentation_draws_follow_the_2021_release():
    """Over 4,000 images, the pipeline's parameters have the distribution of the 2021 code's
    draws: crop offsets (never the last one), mirroring, how often each patch appears, and the
    patches' heights, widths and corners (aspect ratio drawn uniformly, not log-uniformly;
    corners never on the bottom or right edge)."""
    height, width, count = 64, 32, 4000
    for patch_probability, erasing_probability in ((0.8, 0.8), (0.3, 1.0)):
        settings = AugmentationSettings(
            patch_replacement_probability=patch_probability,
            random_erasing_probability=erasing_probability,
        )
        ours = np.stack(
            [
                sample_augmentation(
                    np.random.default_rng([1, n]), image_size=(height, width), settings=settings
                )
                for n in range(count)
            ]
        )
        reference_rng = np.random.RandomState(7)
        theirs = [
            release_2021_draws(
                reference_rng,
                height,
                width,
                patch_probability=patch_probability,
                erasing_probability=erasing_probability,
            )
            for _ in range(count)
        ]
        # Crop offsets: 0 .. pad - 1, uniformly (pad = 3 rows and 1 column here).
        assert set(ours[:, 0]) == {t[0] for t in theirs} == {0, 1, 2}
        assert set(ours[:, 1]) == {t[1] for t in theirs} == {0}
        assert abs(ours[:, 2].mean() - np.mean([t[2] for t in theirs])) < 0.04
        for column, index in ((3, 3), (7, 4)):  # gray patch, erased patch
            our_patches = ours[ours[:, column + 2] > 0, column : column + 4]
            their_patches = np.array([t[index] for t in theirs if t[index] is not None])
            assert abs(len(our_patches) - len(their_patches)) < 0.04 * count
            tops, lefts, heights, widths = our_patches.T
            assert (tops + heights < height).all() and (lefts + widths < width).all()
            for ours_values, theirs_values in zip(our_patches.T, their_patches.T, strict=True):
                assert abs(ours_values.mean() - theirs_values.mean()) < 0.04 * theirs_values.mean()
                assert abs(ours_values.std() - theirs_values.std()) < 0.06 * theirs_values.std()


def reference_augmentation(image, parameters):
    """One image, the plain way: pad each channel with the padding colour OpenCV rounds to,
    crop, mirror, then the two rectangles (grayscale as the ITU-R BT.601 luma, then the erasing
    colour, which the 2021 code truncates into uint8)."""
    (top, left, mirror, gray_top, gray_left, gray_height, gray_width) = parameters[:7]
    erased_top, erased_left, erased_height, erased_width = parameters[7:]
    height, width = image.shape[:2]
    pad_height, pad_width = int(0.05 * height), int(0.05 * width)
    padding_color = [124, 117, 104]  # 123.68, 116.779, 103.939 rounded
    padded = np.stack(
        [
            np.pad(
                image[..., c],
                [
                    (pad_height // 2, pad_height - pad_height // 2),
                    (pad_width // 2, pad_width - pad_width // 2),
                ],
                constant_values=padding_color[c],
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
    erased = (
        slice(erased_top, erased_top + erased_height),
        slice(erased_left, erased_left + erased_width),
    )
    result[erased] = [123, 116, 103]  # truncated
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
    assert (parameters[:, 9] > 0).any() and (parameters[:, 5] > 0).any()  # both patches
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
    again = apply_augmentation(images, parameters)
    np.testing.assert_array_equal(augmented, again)
    assert PADDING_COLOR == (124, 117, 104) and ERASING_COLOR == (123, 116, 103)


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


def opencv_reference(image_file_path, image_height, image_width):
    """The 2021 release's reader, as its code reads every image."""
    image = cv2.imread(image_file_path)
    image = cv2.resize(image, (image_width, image_height))
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    """The tiny synthetic set's images (64x32 JPEG files), and re-encoded copies of some of
    them at 128x64 and other sizes, as JPEG and PNG."""
    root = tmp_path_factory.mktemp("pixels")
    synthetic = generate_synthetic_dataset(str(root), TINY_SYNTHETIC)
    paths = sorted(glob.glob(os.path.join(synthetic, "**", "*.jpg"), recursive=True))
    copies = []
    for index, path in enumerate(paths[:24]):
        image = cv2.imread(path)
        size = [(64, 128), (50, 100), (200, 500), (33, 97)][index % 4]  # (width, height)
        extension = ".png" if index % 3 == 0 else ".jpg"
        copy = str(root / f"copy_{index}{extension}")
        cv2.imwrite(copy, cv2.resize(image, size, interpolation=cv2.INTER_CUBIC))
        copies.append(copy)
    return paths + copies


def test_images_are_read_as_the_2021_release_reads_them(image_files):
    """Evaluation batches and unaugmented training batches hold exactly the pixels of OpenCV's
    imread + bilinear resize + BGR to RGB (TensorFlow's own decoder and resize differ by up to
    8 grey levels on these files)."""
    image_height, image_width = 48, 24  # a real resize for every file
    batches = build_evaluation_dataset(
        image_files, image_size=(image_height, image_width), batch_size=16, workers=2
    )
    found = np.concatenate([batch.numpy() for batch in batches])
    expected = np.stack([opencv_reference(p, image_height, image_width) for p in image_files])
    assert len(image_files) > 150
    np.testing.assert_array_equal(found, expected)
    # Training batches (augmentation off) come from the same reader.
    labels = np.repeat(np.arange(len(image_files) // 4), 4)
    dataset = build_training_dataset(
        image_file_paths=image_files[: len(labels)],
        identity_labels=labels,
        class_num=int(labels.max()) + 1,
        output_names=["global_embedding", "global_probability"],
        sampling=SamplingSettings(4, 4),
        image_size=(image_height, image_width),
        augmentation=AugmentationSettings(use_data_augmentation_in_training=False),
        workers=2,
    )
    rows = next(iterate_identity_batches(labels, SamplingSettings(4, 4), seed=0))
    images, _ = next(iter(dataset))
    np.testing.assert_array_equal(images.numpy(), [expected[row] for row in rows])


def test_unreadable_files_are_found_by_the_same_reader(image_files, tmp_path):
    empty, text, truncated = tmp_path / "empty.jpg", tmp_path / "text.jpg", tmp_path / "cut.jpg"
    empty.write_bytes(b"")
    text.write_bytes(b"\xff\xd8 not really a jpeg")
    truncated.write_bytes(open(image_files[0], "rb").read()[:20])
    paths = [image_files[0], str(empty), str(text), str(tmp_path / "missing.jpg"), str(truncated)]
    assert find_readable_images(paths, workers=2).tolist() == [True, False, False, False, False]


def test_extraction_progress_prints_a_line_every_10_seconds_until_done(monkeypatch, capsys):
    """The progress line both feature extractors (Keras and ONNX Runtime) print."""
    import progress_lines

    clock = iter([100.0, 109.0, 112.0, 120.0, 140.0])  # start, then one reading per update
    monkeypatch.setattr(progress_lines.time, "perf_counter", lambda: next(clock))
    progress = progress_lines.ExtractionProgress(1000)
    progress.update(100)  # 9 s in: too soon
    progress.update(300)  # 12 s in: 25 images/s, 700 left = 28 s
    progress.update(400)  # 8 s after the last line: too soon
    progress.update(1000)  # done: no line
    assert capsys.readouterr().out == (
        "  features: 300 of 1,000 images (30%), 25 images/s, 28 s left\n"
    )
    assert progress_lines.format_duration(3 * 3600 + 125) == "3 h 2 min"
    assert progress_lines.format_duration(125) == "2 min 5 s"


def test_a_worker_takes_the_chiefs_write_in_progress_for_no_result(tmp_path):
    """A worker of a cluster other than the chief checks the output folder (read-only) while the
    chief may be writing flags.txt under a temporary name: that name is no result, so the worker
    starts the new run with the chief instead of refusing; a real result is still refused."""
    from callbacks import RunState
    from training.output_folder import OutputFolderError, prepare_output_folder

    folder = tmp_path / "Synthetic_resnet18"
    folder.mkdir()
    (folder / "log.txt").write_text("the chief's start\n")
    (folder / ".flags.ab12cd34.tmp.txt").write_text("--epoch_num=2\n")  # atomic_output's name
    before = sorted(os.listdir(folder))
    check = functools.partial(
        prepare_output_folder,
        str(folder),
        flags_text="--epoch_num=2\n",
        overwrite=False,
        training_epoch_num=2,
        steps_per_epoch=3,
        run_state=RunState(str(tmp_path / "worker"), resume_folder_path=str(folder)),
        writable=False,
    )
    assert check() is None
    assert sorted(os.listdir(folder)) == before  # a worker changes nothing
    (folder / "history.csv").write_text("epoch\n1\n")
    with pytest.raises(OutputFolderError, match="already holds results"):
        check()
