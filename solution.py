"""FlipReID: train and evaluate a person re-identification model (entry point, flags only here).

    python3 -u solution.py --dataset_name Market1501 --use_horizontal_flipping_inside_model ...

Flags keep the names and defaults of the 2021 release, so its commands work unchanged. Each
group of flags becomes one settings object of the package it concerns (field names = flag
names, defaults = the settings' defaults); docs/method.md describes what they control.
"""

import legacy_keras  # noqa: F401, I001  (Keras 2 must be selected before TensorFlow is imported)

import dataclasses
import functools
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass

import tensorflow as tf
from absl import app, flags, logging

import applications
import callbacks
import datasets
import image_augmentation
import training
from applications import ModelSettings, WeightsFileError
from callbacks import EvaluationSettings, LearningRateSettings
from datasets import DatasetError, DatasetSettings, SyntheticSettings
from datasets.sampling import SamplingSettings, TooFewIdentitiesError, check_enough_identities
from image_augmentation import AugmentationSettings
from load_backbones import BACKBONE_NAMES, BackboneError
from regularizers import RegularizationSettings
from settings_checks import SettingsError
from atomic_files import WriteError, format_bytes, write_atomically
from callbacks import (
    ResumePoint,
    RunInterrupted,
    RunState,
    TrainingDivergedError,
)
from training import TrainingSettings
from callbacks.results import TestingSetName, result_rows, write_results
from training.devices import MIXED_PRECISION_MODES, DeviceSettings
from training.run_log import RunLog
from training.output_folder import (
    FINISHED_FILE_NAME,
    OutputFolderError,
    OutputFolderLock,
    prepare_output_folder,
)

FLAGS = flags.FLAGS
DATASET = DatasetSettings()
SYNTHETIC = SyntheticSettings()
MODEL = ModelSettings()
REGULARIZATION = RegularizationSettings()
EVALUATION = EvaluationSettings()
SAMPLING = SamplingSettings()
LEARNING_RATE = LearningRateSettings()
TRAINING = TrainingSettings()
DEVICES = DeviceSettings()
AUGMENTATION = AugmentationSettings()

# Dataset
flags.DEFINE_string(
    "root_folder_path",
    DATASET.root_folder_path,
    "Folder that holds the dataset folders (for Synthetic: where it is written).",
)
flags.DEFINE_string(
    "dataset_name",
    DATASET.dataset_name,
    "Market1501, DukeMTMC_reID, MSMT17, Synthetic, CSV, or the path of a .csv file.",
)
flags.DEFINE_integer(
    "synthetic_train_identity_num",
    SYNTHETIC.synthetic_train_identity_num,
    "Synthetic: training identities.",
)
flags.DEFINE_integer(
    "synthetic_test_identity_num",
    SYNTHETIC.synthetic_test_identity_num,
    "Synthetic: test identities.",
)
flags.DEFINE_integer(
    "synthetic_camera_num", SYNTHETIC.synthetic_camera_num, "Synthetic: cameras (2 to 9)."
)
flags.DEFINE_integer(
    "synthetic_image_height",
    SYNTHETIC.synthetic_image_height,
    "Synthetic: height of the generated images.",
)
flags.DEFINE_integer(
    "synthetic_image_width",
    SYNTHETIC.synthetic_image_width,
    "Synthetic: width of the generated images.",
)
flags.DEFINE_integer(
    "seed", SYNTHETIC.seed, "Seed of the synthetic dataset, sampling and augmentation."
)
# Model
flags.DEFINE_enum(
    "backbone_model_name",
    MODEL.backbone_model_name,
    BACKBONE_NAMES,
    "resnet50, ibn_resnet50, resnesta50 (the paper's), or another tf2cv ResNet.",
)
flags.DEFINE_bool(
    "use_pretrained_backbone",
    True,
    "Start from ImageNet weights (downloaded by tf2cv); --nouse_pretrained_backbone "
    "trains from scratch.",
)
flags.DEFINE_string(
    "pretrained_backbone_weights_file_path",
    "",
    "A local tf2cv ImageNet weights file (.tf2.h5), for machines without network.",
)
flags.DEFINE_integer(
    "freeze_backbone_for_N_epochs",
    TRAINING.freeze_backbone_for_N_epochs,
    "Epochs of the first phase, which trains only the new layers.",
)
flags.DEFINE_integer("image_width", MODEL.image_width, "Width of the model input.")
flags.DEFINE_integer("image_height", MODEL.image_height, "Height of the model input.")
flags.DEFINE_integer("region_num", MODEL.region_num, "Horizontal stripes of the regional branch.")
flags.DEFINE_float(
    "kernel_regularization_factor",
    REGULARIZATION.kernel_regularization_factor,
    "L2 factor on kernels.",
)
flags.DEFINE_float(
    "bias_regularization_factor", REGULARIZATION.bias_regularization_factor, "L2 factor on biases."
)
flags.DEFINE_float(
    "gamma_regularization_factor",
    REGULARIZATION.gamma_regularization_factor,
    "L2 factor on BatchNormalization gamma.",
)
flags.DEFINE_float(
    "beta_regularization_factor",
    REGULARIZATION.beta_regularization_factor,
    "L2 factor on BatchNormalization beta.",
)
flags.DEFINE_enum(
    "pooling_mode", MODEL.pooling_mode, applications.POOLING_MODES, "Pooling of each embedding."
)
flags.DEFINE_float("min_value", MODEL.min_value, "Lower clip of the pooled embeddings.")
flags.DEFINE_float("max_value", MODEL.max_value, "Upper clip of the pooled embeddings.")
# Evaluation
flags.DEFINE_float(
    "testing_size",
    DATASET.testing_size,
    "Fraction (0, 1) or number (> 1) of test identities to evaluate on; 0 disables "
    "testing, 1 uses everything.",
)
flags.DEFINE_list(
    "testing_dataset_names",
    list(DATASET.testing_dataset_names),
    "Datasets to evaluate on (default: the training dataset): names as --dataset_name, or .csv "
    "paths, each optionally with @ and another root folder (Market1501@/data/other). The best "
    "model is chosen by the training dataset's mAP if it is named, else by the first's.",
)
flags.DEFINE_integer(
    "evaluate_testing_every_N_epochs",
    EVALUATION.evaluate_testing_every_N_epochs,
    "Evaluate every N epochs of a phase (and always at its last epoch).",
)
flags.DEFINE_bool(
    "use_horizontal_flipping_in_evaluation",
    EVALUATION.use_horizontal_flipping_in_evaluation,
    "Embedding = mean of the image's and its mirror's embeddings.",
)
flags.DEFINE_bool(
    "use_re_ranking",
    EVALUATION.use_re_ranking,
    "k-reciprocal re-ranking (Zhong et al., CVPR 2017).",
)
flags.DEFINE_bool("evaluation_only", False, "Only evaluate pretrained_model_file_path.")
flags.DEFINE_integer(
    "ranked_list_num",
    EVALUATION.ranked_list_num,
    "Pictures of the N worst and N best test queries by average precision, each beside its "
    "top 10 (ranked_lists/index.html), at the end of training or in evaluation-only mode.",
)
flags.DEFINE_bool(
    "save_data_to_disk",
    EVALUATION.save_data_to_disk,
    "Save features, identities and cameras as .npz.",
)
# Training
flags.DEFINE_integer(
    "identity_num_per_batch", SAMPLING.identity_num_per_batch, "P: identities per batch."
)
flags.DEFINE_integer(
    "image_num_per_identity", SAMPLING.image_num_per_identity, "K: images per identity in a batch."
)
flags.DEFINE_enum(
    "learning_rate_mode",
    LEARNING_RATE.learning_rate_mode,
    callbacks.LEARNING_RATE_MODES,
    "Learning-rate schedule of each phase (docs/method.md, with worked values).",
)
flags.DEFINE_float(
    "learning_rate_start", LEARNING_RATE.learning_rate_start, "Learning rate at the first epoch."
)
flags.DEFINE_float(
    "learning_rate_end", LEARNING_RATE.learning_rate_end, "Learning rate at the last epoch."
)
flags.DEFINE_float(
    "learning_rate_base",
    LEARNING_RATE.learning_rate_base,
    "Learning rate after warm-up (default mode).",
)
flags.DEFINE_integer(
    "learning_rate_warmup_epochs", LEARNING_RATE.learning_rate_warmup_epochs, "Warm-up epochs."
)
flags.DEFINE_integer(
    "learning_rate_steady_epochs",
    LEARNING_RATE.learning_rate_steady_epochs,
    "Epochs between drops (default mode).",
)
flags.DEFINE_float(
    "learning_rate_drop_factor",
    LEARNING_RATE.learning_rate_drop_factor,
    "Divisor at each drop (0: derive it).",
)
flags.DEFINE_float(
    "learning_rate_lower_bound",
    LEARNING_RATE.learning_rate_lower_bound,
    "The learning rate never goes below this.",
)
flags.DEFINE_integer("steps_per_epoch", TRAINING.steps_per_epoch, "Training steps per epoch.")
flags.DEFINE_integer("epoch_num", TRAINING.epoch_num, "Epochs of the second phase.")
flags.DEFINE_integer(
    "checkpoints_kept_after_training",
    TRAINING.checkpoints_kept_after_training,
    "Checkpoints left when a run has finished: 1 (the last), 0 or 2 (README: their sizes).",
)
flags.DEFINE_integer("workers", 5, "Parallel image decoding and augmentation calls.")
flags.DEFINE_float(
    "patch_replacement_probability",
    AUGMENTATION.patch_replacement_probability,
    "Random grayscale patch replacement.",
)
flags.DEFINE_float(
    "random_erasing_probability", AUGMENTATION.random_erasing_probability, "Random erasing."
)
flags.DEFINE_bool(
    "use_data_augmentation_in_training",
    AUGMENTATION.use_data_augmentation_in_training,
    "Augment training images.",
)
flags.DEFINE_bool(
    "use_horizontal_flipping_inside_model",
    MODEL.use_horizontal_flipping_inside_model,
    "FlipReID: train on each image and its mirror, with the flipping loss.",
)
flags.DEFINE_string(
    "pretrained_model_file_path",
    "",
    "Weights to start from or evaluate: training_model.h5 or inference_model.h5 (the kind is "
    "read from the file).",
)
flags.DEFINE_string(
    "output_folder_path", "./output", "Results go to output_folder_path/{dataset}_{backbone}."
)
flags.DEFINE_bool(
    "overwrite_output_folder",
    False,
    "Write into an output folder that already holds results (files of the same names are "
    "replaced; nothing else is deleted).",
)
# Devices and precision
flags.DEFINE_enum(
    "mixed_precision",
    DEVICES.mixed_precision,
    MIXED_PRECISION_MODES,
    "auto: float16 (with loss scaling) on CUDA GPUs with tensor cores, float32 elsewhere; or "
    "float32, float16, bfloat16. GeM, clipping, the heads and the losses stay float32.",
)
flags.DEFINE_integer(
    "logical_cpu_device_num",
    DEVICES.logical_cpu_device_num,
    "Without GPUs: split the CPU into this many devices (MirroredStrategy), to try the "
    "several-device path. GPUs: all visible ones are used (CUDA_VISIBLE_DEVICES restricts).",
)
flags.DEFINE_bool(
    "jit_compile", DEVICES.jit_compile, "XLA-compile the training step (try it on a GPU)."
)
flags.DEFINE_bool(
    "use_deterministic_ops",
    DEVICES.use_deterministic_ops,
    "TensorFlow's op determinism: on a GPU, only convolution algorithms that add in a fixed "
    "order (slower). On a CPU a run repeats to the last digit without it.",
)
flags.DEFINE_bool(
    "evaluate_testing_before_training",
    EVALUATION.evaluate_testing_before_training,
    "Evaluate the untrained model first, as a baseline.",
)


class UsageError(Exception):
    """A flag combination or a file that cannot work; the message says what to change."""


@dataclass(frozen=True)
class Settings:
    """Every settings object of a run, built from the flags in one place."""

    dataset: DatasetSettings
    synthetic: SyntheticSettings
    model: ModelSettings
    regularization: RegularizationSettings
    evaluation: EvaluationSettings
    sampling: SamplingSettings
    augmentation: AugmentationSettings
    learning_rate: LearningRateSettings
    training: TrainingSettings | None  # None in evaluation-only mode
    devices: DeviceSettings


def settings_from_flags():
    """Settings of each concern, validated as they are built (SettingsError names the flag)."""

    def from_flags(settings_class):
        return settings_class(
            **{field.name: FLAGS[field.name].value for field in dataclasses.fields(settings_class)}
        )

    settings = Settings(
        dataset=from_flags(DatasetSettings),
        synthetic=from_flags(SyntheticSettings),
        model=from_flags(ModelSettings),
        regularization=from_flags(RegularizationSettings),
        evaluation=from_flags(EvaluationSettings),
        sampling=from_flags(SamplingSettings),
        augmentation=from_flags(AugmentationSettings),
        learning_rate=from_flags(LearningRateSettings),
        training=None if FLAGS.evaluation_only else from_flags(TrainingSettings),
        devices=from_flags(DeviceSettings),
    )
    if settings.training is not None:
        settings.learning_rate.check_epoch_num(settings.training.epoch_num)
    return settings


def this_program_flags() -> str:
    """The flags defined here with their values, one per line (--flagfile format): nothing of
    the libraries' own absl flags."""
    return (
        "\n".join(flag.serialize() for flag in FLAGS.get_flags_for_module(sys.modules[__name__]))
        + "\n"
    )


def main(argv):
    del argv
    run_log = RunLog.start()  # everything printed goes to the run folder's log.txt too
    if not FLAGS["verbosity"].present:  # TensorFlow's own info lines (saver timings) are noise
        logging.set_verbosity(logging.WARNING)
    try:
        taken = adopt_architecture_of_weights_file()
        print(this_program_flags(), flush=True)
        if taken:
            print(taken, flush=True)
        run(settings_from_flags(), run_log=run_log)
    except RunInterrupted as interruption:
        print(f"\n{interruption}", flush=True)
        sys.exit(128 + interruption.signal_number)  # the shell's convention: 143, 130
    except (
        DatasetError,
        BackboneError,
        TooFewIdentitiesError,
        SettingsError,
        OutputFolderError,
        TrainingDivergedError,
        WeightsFileError,
        UsageError,
        WriteError,
        training.DatasetChangedError,
    ) as error:
        print(f"\nError: {error}", file=sys.stderr, flush=True)
        sys.exit(1)
    finally:
        run_log.stop()


def adopt_architecture_of_weights_file() -> str:
    """With --pretrained_model_file_path: the architecture flags that the command does not give
    are taken from the file's own description (applications.describe_model_file); one that the
    command gives and the file contradicts stops the run. Returns the line that says what was
    taken ("" for nothing).

    --use_horizontal_flipping_inside_model is taken when not given, but may differ: it changes
    how the model trains, not its weights.
    """
    file_path = FLAGS.pretrained_model_file_path
    if not file_path or not os.path.isfile(file_path):
        return ""
    description = applications.describe_model_file(file_path)
    taken, conflicts = [], []
    for name, value in description.values.items():
        flag = FLAGS[name]
        if flag.value == value:
            continue
        if not flag.present:
            flag.value = value
            taken.append(f"--{name} {value}")
        elif name != "use_horizontal_flipping_inside_model":
            conflicts.append(f"--{name}: {value} in the file, {flag.value} in the command")
    if conflicts:
        raise UsageError(
            f"The weights file {file_path} was built for other values than this command gives "
            f"(from {description.source}):\n  " + "\n  ".join(conflicts) + "\nLeave these "
            "flags out (the file's values are then used), or give the values the file was built "
            "with."
        )
    if not taken:
        return ""
    return f"Taken from {description.source}: {', '.join(taken)}"


def run(settings: Settings, *, run_log: RunLog) -> None:
    if FLAGS.evaluation_only and not os.path.isfile(FLAGS.pretrained_model_file_path):
        raise UsageError(
            "--evaluation_only needs --pretrained_model_file_path pointing at the .h5 weights "
            "written by training (training_model.h5 or inference_model.h5) or a 2021 release "
            f"checkpoint; got {FLAGS.pretrained_model_file_path!r}."
        )
    strategy = training.configure_devices(settings.devices)  # before anything touches devices
    print(training.describe_devices(strategy), flush=True)
    if settings.training is not None:
        training.check_batch_split(settings.sampling, strategy.num_replicas_in_sync)
    output_folder_path = output_folder_of(settings)
    chief = training.is_chief(strategy)
    command = shlex.join(["python3", "-u", *sys.argv])
    # One writer per folder, before anything in it changes; released when the process ends.
    lock = OutputFolderLock.acquire(output_folder_path, command=command) if chief else None
    worker_folder_path = None if chief else tempfile.mkdtemp(prefix="flipreid-worker-")
    run_state = None
    if settings.training is not None:
        run_state = RunState(
            worker_folder_path or output_folder_path, resume_folder_path=output_folder_path
        )
    try:
        resume_point = prepare_output_folder(
            output_folder_path,
            flags_text=this_program_flags(),
            overwrite=FLAGS.overwrite_output_folder,
            training_epoch_num=None
            if settings.training is None
            else settings.training.phases.epoch_num,
            steps_per_epoch=FLAGS.steps_per_epoch,
            run_state=run_state,
            writable=chief,
        )
        run_log.write_into(worker_folder_path or output_folder_path)  # the folder is ours now
        if not chief:
            # The other workers of a cluster compute the same, write into a folder of their own
            # that is deleted at the end, and continue from the chief's checkpoints.
            print(f"Not the chief: this worker's files go to {worker_folder_path}, then deleted.")
        train_or_evaluate(
            settings,
            strategy=strategy,
            output_folder_path=worker_folder_path or output_folder_path,
            run_state=run_state,
            resume_point=resume_point,
        )
    finally:
        if worker_folder_path is not None:
            shutil.rmtree(worker_folder_path, ignore_errors=True)
        if lock is not None:
            lock.release()


@dataclass(frozen=True)
class TestingSet:
    """One dataset to evaluate on: its query and gallery images, its label and log prefix."""

    label: str
    log_prefix: str  # "test" for the dataset the best model is chosen by
    query_df: object
    gallery_df: object


def train_or_evaluate(
    settings: Settings,
    *,
    strategy: tf.distribute.Strategy,
    output_folder_path: str,
    run_state: RunState | None,
    resume_point: ResumePoint | None,
) -> None:
    tf.keras.utils.set_random_seed(FLAGS.seed)
    train_df = None
    evaluating_elsewhere = FLAGS.evaluation_only and settings.dataset.testing_dataset_names
    if not evaluating_elsewhere:  # the training dataset (in evaluation-only mode, its test set)
        train_df, query_df, gallery_df, encoders = load_dataset(
            settings, name=settings.dataset.dataset_name, root=settings.dataset.root_folder_path
        )
    testing_sets = load_testing_sets(
        settings,
        training_test_set=None if evaluating_elsewhere else (query_df, gallery_df),
    )
    if FLAGS.evaluation_only:  # the heads are those of the file
        class_num = applications.describe_model_file(FLAGS.pretrained_model_file_path).class_num
        class_num = class_num or 1  # an inference model has no heads
    else:
        class_num = len(encoders["identity_ID"].classes_)
    dataset_fingerprint = None
    if not FLAGS.evaluation_only:  # too few identities for a P x K batch: stop before building
        check_enough_identities(train_df["identity_ID"].to_numpy(), settings.sampling)
        test_splits = {}
        for testing_set in testing_sets:
            test_splits[f"{testing_set.label} query"] = testing_set.query_df
            test_splits[f"{testing_set.label} gallery"] = testing_set.gallery_df
        dataset_fingerprint = datasets.dataset_fingerprint({"train": train_df, **test_splits})
        training.check_same_dataset(resume_point, dataset_fingerprint)
    with strategy.scope():
        training_model, inference_model = applications.init_model(
            settings.model,
            class_num=class_num,
            # Weights to load replace ImageNet's: no need to download them.
            use_pretrained_backbone=FLAGS.use_pretrained_backbone
            and not FLAGS.pretrained_model_file_path,
            pretrained_backbone_weights_file_path=FLAGS.pretrained_backbone_weights_file_path,
            regularization=settings.regularization,
        )
        if FLAGS.pretrained_model_file_path:
            kind, heads_skipped = applications.load_weights_file(
                training_model, inference_model, FLAGS.pretrained_model_file_path
            )
            print(f"Loaded the {kind} model weights of {FLAGS.pretrained_model_file_path}")
            if heads_skipped:
                print(
                    "Its classifier heads were left out: they are for another number of "
                    f"identities than this run's {class_num}, and play no part in evaluation."
                )
    evaluators = [
        callbacks.Evaluator(
            inference_model,
            query_df=testing_set.query_df,
            gallery_df=testing_set.gallery_df,
            settings=settings.evaluation,
            output_folder_path=output_folder_path,
            phases=None if settings.training is None else settings.training.phases,
            workers=FLAGS.workers,
            dataset_label=testing_set.label,
            log_prefix=testing_set.log_prefix,
        )
        for testing_set in testing_sets
    ]
    testing_set_names = [TestingSetName(t.label, t.log_prefix) for t in testing_sets]
    if FLAGS.evaluation_only:
        evaluate_only(
            evaluators, testing_set_names=testing_set_names, output_folder_path=output_folder_path
        )
        return
    weights_file_path = training.train(
        training_model,
        strategy=strategy,
        datasets_from_step=functools.partial(
            image_augmentation.build_training_dataset,
            image_file_paths=train_df["image_file_path"],
            identity_labels=encoders["identity_ID"].transform(train_df["identity_ID"]),
            class_num=class_num,
            output_names=training_model.output_names,
            sampling=settings.sampling,
            image_size=(settings.model.image_height, settings.model.image_width),
            augmentation=settings.augmentation,
            workers=FLAGS.workers,
            seed=FLAGS.seed,
        ),
        settings=settings.training,
        learning_rate=settings.learning_rate,
        evaluation=settings.evaluation,
        evaluators=evaluators,
        testing_set_names=testing_set_names,
        output_folder_path=output_folder_path,
        run_state=run_state,
        resume_point=resume_point,
        dataset_fingerprint=dataset_fingerprint,
        images_per_step=settings.sampling.batch_size,
        resume_command=shlex.join(["python3", "-u", *sys.argv]),
        jit_compile=settings.devices.jit_compile,
    )
    inference_model_path = os.path.join(output_folder_path, "inference_model.h5")
    applications.save_inference_model(
        inference_model, inference_model_path, settings=settings.model, class_num=class_num
    )
    # Written last: a run is finished once this file exists (a rerun completes the rest).
    write_atomically(
        os.path.join(output_folder_path, FINISHED_FILE_NAME),
        json.dumps({"finished": time.strftime("%Y-%m-%d %H:%M:%S %Z")}) + "\n",
    )
    kept, removed_bytes = run_state.prune(settings.training.checkpoints_kept_after_training)
    print(
        f"\nDone. Weights: {weights_file_path}; standalone inference model: "
        f"{inference_model_path}; history, results and plots in {output_folder_path}. "
        f"Checkpoints: {len(kept)} kept"
        + (f", {format_bytes(removed_bytes)} removed" if removed_bytes else "")
        + " (--checkpoints_kept_after_training)."
    )


def evaluate_only(evaluators, *, testing_set_names, output_folder_path: str) -> None:
    """Evaluate once on each test dataset, print each mAP, and keep the numbers in the output
    folder (results.csv, results.json); nothing is written beside the weights file."""
    if not evaluators:
        raise UsageError("--evaluation_only needs a test set: set --testing_size above 0.")
    logs = {}
    for evaluator in evaluators:
        logs.update(
            evaluator.evaluate("of the weights file", final=True, file_tag="evaluation only")
        )
    rows = result_rows([{"phase": "evaluation only", **logs}], testing_sets=testing_set_names)
    write_results(output_folder_path, rows, watched=evaluators[0].monitor)
    print()
    for row in rows:
        re_ranked = ", re-ranked" if row["distances"] == "re-ranked" else ""
        print(
            f"Test mAP on {row['dataset']}{re_ranked}: {100 * row['mAP_fraction']:.2f}% "
            f"(rank-1 {100 * row['rank1_fraction']:.2f}%)"
        )
    print(f"Results: {os.path.join(output_folder_path, 'results.csv')}", flush=True)


def load_dataset(settings: Settings, *, name: str, root: str):
    """(train_df, query_df, gallery_df, encoders) of one dataset: unreadable images left out,
    the test set reduced to --testing_size; prints the statistics."""
    train_df, query_df, gallery_df, encoders = datasets.load_accumulated_info_of_dataset(
        root, name, synthetic=settings.synthetic
    )
    train_df, query_df, gallery_df = (
        drop_unreadable_images(frame, split_name)
        for frame, split_name in ((train_df, "train"), (query_df, "query"), (gallery_df, "gallery"))
    )
    query_df, gallery_df = datasets.select_testing_subset(
        query_df, gallery_df, settings.dataset.testing_size, seed=0
    )
    statistics = datasets.describe_dataset(train_df, query_df, gallery_df)
    print(f"{datasets.dataset_label(name)}:\n{statistics}", flush=True)
    return train_df, query_df, gallery_df, encoders


def load_testing_sets(settings: Settings, *, training_test_set) -> list[TestingSet]:
    """The test datasets (--testing_dataset_names, or the training dataset's test set when it
    is given as training_test_set), the watched one first; none with --testing_size 0."""
    if settings.dataset.testing_size == 0:
        return []
    watched = settings.dataset.watched_source
    testing_sets = []
    for source in settings.dataset.testing_sources:
        if training_test_set is not None and source.is_training_dataset(settings.dataset):
            query_df, gallery_df = training_test_set
        else:
            _, query_df, gallery_df, _ = load_dataset(
                settings, name=source.dataset_name, root=source.root_folder_path
            )
        caution = datasets.camera_caution(source.label, query_df, gallery_df)
        if caution:
            print(caution, flush=True)
        if not (len(query_df) and len(gallery_df)):
            continue
        prefix = "test" if source == watched else f"test_{source.label}"
        testing_sets.append(TestingSet(source.label, prefix, query_df, gallery_df))
    return sorted(testing_sets, key=lambda testing_set: testing_set.log_prefix != "test")


def output_folder_of(settings: Settings) -> str:
    """output_folder_path/{dataset}_{backbone}."""
    return os.path.abspath(
        os.path.join(
            os.path.expanduser(FLAGS.output_folder_path),
            f"{settings.dataset.label}_{settings.model.backbone_model_name}",
        )
    )


def drop_unreadable_images(frame, split_name: str):
    readable = image_augmentation.find_readable_images(
        frame["image_file_path"], workers=FLAGS.workers
    )
    if not readable.all():
        unreadable_paths = frame["image_file_path"][~readable].tolist()
        print(
            f"Warning: {len(unreadable_paths)} {split_name} images cannot be read and are left "
            f"out: {', '.join(unreadable_paths[:5])}{' ...' if len(unreadable_paths) > 5 else ''}",
            flush=True,
        )
    return frame[readable].reset_index(drop=True)


if __name__ == "__main__":
    app.run(main)
