"""FlipReID: train and evaluate a person re-identification model (entry point, flags only here).

    python3 -u solution.py --dataset_name Market1501 --use_horizontal_flipping_inside_model ...

Flags keep the names and defaults of the 2021 release, so its commands work unchanged. Each
group of flags becomes one settings object of the package it concerns (field names = flag
names, defaults = the settings' defaults); docs/method.md describes what they control.
"""

import legacy_keras  # noqa: F401, I001  (Keras 2 must be selected before TensorFlow is imported)

import dataclasses
import functools
import os
import shlex
import sys
from dataclasses import dataclass

import tensorflow as tf
from absl import app, flags, logging

import applications
import callbacks
import datasets
import image_augmentation
import training
from applications import ModelSettings
from callbacks import EvaluationSettings, LearningRateSettings
from datasets import DatasetError, DatasetSettings, SyntheticSettings
from datasets.sampling import SamplingSettings, TooFewIdentitiesError, check_enough_identities
from image_augmentation import AugmentationSettings
from load_backbones import BACKBONE_NAMES, BackboneError
from regularizers import RegularizationSettings
from settings_checks import SettingsError
from callbacks import RunInterrupted, TrainingDivergedError
from training import TrainingSettings
from training.output_folder import OutputFolderError, prepare_output_folder

FLAGS = flags.FLAGS
DATASET = DatasetSettings()
SYNTHETIC = SyntheticSettings()
MODEL = ModelSettings()
REGULARIZATION = RegularizationSettings()
EVALUATION = EvaluationSettings()
SAMPLING = SamplingSettings()
LEARNING_RATE = LearningRateSettings()
TRAINING = TrainingSettings()
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
flags.DEFINE_string("pretrained_model_file_path", "", "Weights (.h5) to start from or evaluate.")
flags.DEFINE_string(
    "output_folder_path", "./output", "Results go to output_folder_path/{dataset}_{backbone}."
)
flags.DEFINE_bool(
    "overwrite_output_folder",
    False,
    "Write into an output folder that already holds results (files of the same names are "
    "replaced; nothing else is deleted).",
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


def settings_from_flags():
    """Settings of each concern, validated as they are built (SettingsError names the flag)."""

    def from_flags(settings_class):
        return settings_class(
            **{field.name: FLAGS[field.name].value for field in dataclasses.fields(settings_class)}
        )

    return Settings(
        dataset=from_flags(DatasetSettings),
        synthetic=from_flags(SyntheticSettings),
        model=from_flags(ModelSettings),
        regularization=from_flags(RegularizationSettings),
        evaluation=from_flags(EvaluationSettings),
        sampling=from_flags(SamplingSettings),
        augmentation=from_flags(AugmentationSettings),
        learning_rate=from_flags(LearningRateSettings),
        training=None if FLAGS.evaluation_only else from_flags(TrainingSettings),
    )


def this_program_flags() -> str:
    """The flags defined here with their values, one per line (--flagfile format): nothing of
    the libraries' own absl flags."""
    return (
        "\n".join(flag.serialize() for flag in FLAGS.get_flags_for_module(sys.modules[__name__]))
        + "\n"
    )


def main(argv):
    del argv
    if not FLAGS["verbosity"].present:  # TensorFlow's own info lines (saver timings) are noise
        logging.set_verbosity(logging.WARNING)
    print(this_program_flags(), flush=True)
    try:
        run(settings_from_flags())
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
        UsageError,
    ) as error:
        sys.exit(f"\nError: {error}")


def run(settings: Settings) -> None:
    if FLAGS.evaluation_only and not os.path.isfile(FLAGS.pretrained_model_file_path):
        raise UsageError(
            "--evaluation_only needs --pretrained_model_file_path pointing at the .h5 weights "
            f"written by training (training_model.h5); got {FLAGS.pretrained_model_file_path!r}."
        )
    output_folder_path = output_folder_of(settings)
    prepare_output_folder(
        output_folder_path,
        flags_text=this_program_flags(),
        overwrite=FLAGS.overwrite_output_folder,
        training_epoch_num=None
        if settings.training is None
        else settings.training.phases.epoch_num,
    )
    tf.keras.utils.set_random_seed(FLAGS.seed)
    train_df, query_df, gallery_df, encoders = load_dataset(settings)
    label_encoder = encoders["identity_ID"]
    class_num = len(label_encoder.classes_)
    if not FLAGS.evaluation_only:  # too few identities for a P x K batch: stop before building
        check_enough_identities(train_df["identity_ID"].to_numpy(), settings.sampling)
    training_model, inference_model = applications.init_model(
        settings.model,
        class_num=class_num,
        use_pretrained_backbone=FLAGS.use_pretrained_backbone,
        pretrained_backbone_weights_file_path=FLAGS.pretrained_backbone_weights_file_path,
        regularization=settings.regularization,
    )
    if FLAGS.pretrained_model_file_path:
        load_model_weights(training_model, FLAGS.pretrained_model_file_path)
    evaluator = None
    if len(query_df) and len(gallery_df):
        evaluator = callbacks.Evaluator(
            inference_model,
            query_df=query_df,
            gallery_df=gallery_df,
            settings=settings.evaluation,
            output_folder_path=output_folder_path,
            phases=None if settings.training is None else settings.training.phases,
            workers=FLAGS.workers,
        )
    if FLAGS.evaluation_only:
        evaluate_only(evaluator, inference_model, settings=settings, class_num=class_num)
        return
    datasets_from_step = functools.partial(
        image_augmentation.build_training_dataset,
        image_file_paths=train_df["image_file_path"],
        identity_labels=label_encoder.transform(train_df["identity_ID"]),
        class_num=class_num,
        output_names=training_model.output_names,
        sampling=settings.sampling,
        image_size=(settings.model.image_height, settings.model.image_width),
        augmentation=settings.augmentation,
        workers=FLAGS.workers,
        seed=FLAGS.seed,
    )
    weights_file_path = training.train(
        training_model,
        datasets_from_step=lambda first_step: datasets_from_step(first_step=first_step),
        settings=settings.training,
        learning_rate=settings.learning_rate,
        evaluation=settings.evaluation,
        evaluator=evaluator,
        output_folder_path=output_folder_path,
        images_per_step=settings.sampling.batch_size,
        resume_command=shlex.join(["python3", "-u", *sys.argv]),
    )
    inference_model_path = os.path.join(output_folder_path, "inference_model.h5")
    applications.save_inference_model(
        inference_model, inference_model_path, settings=settings.model, class_num=class_num
    )
    print(
        f"\nDone. Weights: {weights_file_path}; standalone inference model: "
        f"{inference_model_path}; history and plots in {output_folder_path}"
    )


def evaluate_only(evaluator, inference_model, *, settings: Settings, class_num: int) -> None:
    """Evaluate once, print the mAP, and write the standalone inference model beside the
    weights."""
    if evaluator is None:
        raise UsageError("--evaluation_only needs a test set: set --testing_size above 0.")
    logs = evaluator.evaluate("evaluation only")
    print(f"Test mAP ({evaluator.monitor}): {logs[evaluator.monitor]:.4f}")
    inference_model_path = (
        os.path.splitext(FLAGS.pretrained_model_file_path)[0] + "_inference_model.h5"
    )
    if not os.path.exists(inference_model_path):
        applications.save_inference_model(
            inference_model, inference_model_path, settings=settings.model, class_num=class_num
        )
        print(f"Standalone inference model written to {inference_model_path}")


def load_dataset(settings: Settings):
    """(train_df, query_df, gallery_df, encoders): unreadable images left out, the test set
    reduced to --testing_size; prints the statistics."""
    train_df, query_df, gallery_df, encoders = datasets.load_accumulated_info_of_dataset(
        settings.dataset.root_folder_path,
        settings.dataset.dataset_name,
        synthetic=settings.synthetic,
    )
    train_df, query_df, gallery_df = (
        drop_unreadable_images(frame, split_name)
        for frame, split_name in ((train_df, "train"), (query_df, "query"), (gallery_df, "gallery"))
    )
    query_df, gallery_df = datasets.select_testing_subset(
        query_df, gallery_df, settings.dataset.testing_size, seed=0
    )
    print(datasets.describe_dataset(train_df, query_df, gallery_df), flush=True)
    return train_df, query_df, gallery_df, encoders


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


def load_model_weights(training_model, file_path: str) -> None:
    try:
        applications.load_weights(training_model, file_path)
    except Exception as error:  # h5py and Keras raise many kinds for a bad file
        raise UsageError(
            f"Cannot load model weights from {file_path!r}: {error}. Expected the .h5 file that "
            "training wrote (training_model.h5), for the same --backbone_model_name, "
            "--region_num and dataset (number of training identities)."
        ) from error


if __name__ == "__main__":
    app.run(main)
