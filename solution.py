"""FlipReID: train and evaluate a person re-identification model (entry point, flags only here).

    python3 -u solution.py --dataset_name Market1501 --use_horizontal_flipping_inside_model ...

Flags keep the names and defaults of the 2021 release, so its commands work unchanged. Each
group of flags becomes one settings object (settings/, field names = flag names, defaults = the
settings' defaults); docs/method.md describes what they control. The flags are parsed and the
settings checked before TensorFlow is imported, so --help and a misspelt flag or value answer at
once; training/run.py does the run.
"""

import command_line  # noqa: I001  (first: a Python without the project's packages is told what to do)

import dataclasses
import os
import shlex
import sys

from absl import app, flags, logging

from settings import (
    ALL_BACKBONE_NAMES,
    GLOBAL_FEATURES,
    LEARNING_RATE_MODES,
    MIXED_PRECISION_MODES,
    OPTIMIZER_NAMES,
    POOLING_MODES,
    AugmentationSettings,
    DatasetSettings,
    DeviceSettings,
    EvaluationSettings,
    LearningRateSettings,
    ModelSettings,
    OptimizerSettings,
    RegularizationSettings,
    RunSettings,
    SamplingSettings,
    Settings,
    SettingsError,
    SyntheticSettings,
    TrainingSettings,
)

FLAGS = flags.FLAGS
DATASET = DatasetSettings()
SYNTHETIC = SyntheticSettings()
MODEL = ModelSettings()
REGULARIZATION = RegularizationSettings()
EVALUATION = EvaluationSettings()
SAMPLING = SamplingSettings()
LEARNING_RATE = LearningRateSettings()
OPTIMIZER = OptimizerSettings()
TRAINING = TrainingSettings()
DEVICES = DeviceSettings()
AUGMENTATION = AugmentationSettings()
RUN = RunSettings()

# Dataset
flags.DEFINE_string(
    "root_folder_path",
    DATASET.root_folder_path,
    "Folder that holds the dataset folders (for Synthetic: where it is written).",
)
flags.DEFINE_string(
    "dataset_name",
    DATASET.dataset_name,
    "Market1501, DukeMTMC_reID, MSMT17 (version 2), MSMT17_V1, CUHK03_NP_labeled, "
    "CUHK03_NP_detected, VIPeR, GRID, PRID2011, iLIDS, CUHK02, CUHK_SYSU, Synthetic, CSV, or "
    "the path of a .csv file; video: MARS, iLIDS_VID, PRID2011_video, DukeMTMC_VideoReID "
    "(docs/video.md); several, comma-separated, train on their union (each dataset's "
    "identities kept apart).",
)
flags.DEFINE_bool(
    "combineall",
    DATASET.combineall,
    "Train on the training datasets' query and gallery images too (their test identities "
    "become training identities); test on other datasets (--testing_dataset_names).",
)
flags.DEFINE_bool(
    "one_dataset_per_batch",
    DATASET.one_dataset_per_batch,
    "With several training datasets: draw all identities of each batch from one of them.",
)
flags.DEFINE_integer(
    "split_index",
    DATASET.split_index,
    "Which of the 10 fixed train/test splits of VIPeR, GRID, PRID2011, iLIDS, iLIDS_VID and "
    "PRID2011_video (0 to 9).",
)
# Video datasets (docs/video.md)
flags.DEFINE_integer(
    "sequence_length",
    EVALUATION.sequence_length,
    "Video datasets: frames per tracklet, spread evenly over it, whose mean embedding is the "
    "tracklet's in evaluation (0: every frame).",
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
    ALL_BACKBONE_NAMES,
    "resnet50, ibn_resnet50, resnesta50 (the paper's), or another of the 2021 release's ResNets; "
    "or a keras-hub preset: dinov2_small, dinov2_base (DINOv2 ViT-S/14, ViT-B/14), "
    "clip_vit_base_patch16 (CLIP's image encoder), resnet_50_imagenet (docs/backbones.md).",
)
flags.DEFINE_bool(
    "use_pretrained_backbone",
    RUN.use_pretrained_backbone,
    "Start from pretrained weights (tf2cv's ImageNet ones; a keras-hub backbone's preset's), "
    "downloaded once; --nouse_pretrained_backbone trains from scratch.",
)
flags.DEFINE_string(
    "pretrained_backbone_weights_file_path",
    RUN.pretrained_backbone_weights_file_path,
    "A local weights file (tf2cv's .tf2.h5), or for a keras-hub backbone its preset folder, "
    "for machines without network.",
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
flags.DEFINE_enum("pooling_mode", MODEL.pooling_mode, POOLING_MODES, "Pooling of each embedding.")
flags.DEFINE_enum(
    "global_feature",
    MODEL.global_feature,
    GLOBAL_FEATURES,
    "The global embedding: a ViT's class token, or the pooled feature map; auto: the class "
    "token on a ViT, the pooled map on a ResNet (docs/backbones.md).",
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
    "Datasets to evaluate on (default: the training datasets): names as --dataset_name, or .csv "
    "paths, each optionally with @ and another root folder (Market1501@/data/other); a split "
    "of VIPeR, GRID, PRID2011 or iLIDS as VIPeR_split3, several as VIPeR_split0-9 (default: "
    "--split_index). The best model is chosen by the first training dataset's mAP if it is "
    "named, else by the first's.",
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
flags.DEFINE_bool(
    "use_query_expansion",
    EVALUATION.use_query_expansion,
    "Also evaluate with alpha query expansion (each query replaced by the weighted mean of "
    "itself and its k nearest gallery images; rows of its own, with and without re-ranking).",
)
flags.DEFINE_integer(
    "query_expansion_k", EVALUATION.query_expansion_k, "Query expansion: gallery neighbours."
)
flags.DEFINE_float(
    "query_expansion_alpha",
    EVALUATION.query_expansion_alpha,
    "Query expansion: a neighbour's weight is its cosine similarity to this power (0: the plain "
    "mean, average query expansion).",
)
flags.DEFINE_float(
    "same_person_precision",
    EVALUATION.same_person_precision,
    'The "same person?" mark kept with the model (search.py\'s yellow dot) is chosen so that '
    "at least this share of the top-10 results it marks in the evaluation is the same person.",
)
flags.DEFINE_bool(
    "evaluation_only", RUN.evaluation_only, "Only evaluate pretrained_model_file_path."
)
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
    LEARNING_RATE_MODES,
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
    "Learning rate after warm-up (default and warmup_cosine modes).",
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
# Optimizer (docs/training_vit.md: what each is for, and recipes from the literature)
flags.DEFINE_enum(
    "optimizer_name",
    OPTIMIZER.optimizer_name,
    OPTIMIZER_NAMES,
    "Adam (the 2021 release's), AdamW (Adam with decoupled weight decay), or SGD with momentum.",
)
flags.DEFINE_float("momentum", OPTIMIZER.momentum, "SGD: momentum.")
flags.DEFINE_bool(
    "use_nesterov_momentum", OPTIMIZER.use_nesterov_momentum, "SGD: Nesterov's momentum."
)
flags.DEFINE_float(
    "weight_decay",
    OPTIMIZER.weight_decay,
    "AdamW and SGD: decoupled weight decay, w -= learning rate x weight_decay x w each step "
    "(not on biases, normalisation parameters, position embeddings and tokens). The L2 factors "
    "(--kernel_regularization_factor etc.) still apply: set them to 0 for decay alone.",
)
flags.DEFINE_float(
    "layer_decay",
    OPTIMIZER.layer_decay,
    "Layer-wise learning-rate decay (BEiT, MAE): layer i of L learns at the schedule's rate x "
    "layer_decay^(L + 1 - i), the stem or embeddings being layer 0 and the heads L + 1 "
    "(1: off).",
)
flags.DEFINE_float(
    "backbone_learning_rate_factor",
    OPTIMIZER.backbone_learning_rate_factor,
    "The backbone learns at the schedule's rate x this (on top of --layer_decay; 1: off).",
)
flags.DEFINE_integer("steps_per_epoch", TRAINING.steps_per_epoch, "Training steps per epoch.")
flags.DEFINE_integer("epoch_num", TRAINING.epoch_num, "Epochs of the second phase.")
flags.DEFINE_integer(
    "checkpoints_kept_after_training",
    TRAINING.checkpoints_kept_after_training,
    "Checkpoints left when a run has finished: 1 (the last), 0 or 2 (README: their sizes).",
)
flags.DEFINE_integer("workers", RUN.workers, "Parallel image decoding and augmentation calls.")
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
    RUN.pretrained_model_file_path,
    "Weights to start from or evaluate: training_model.h5 or inference_model.h5 (the kind is "
    "read from the file).",
)
flags.DEFINE_string(
    "output_folder_path",
    RUN.output_folder_path,
    "Results go to output_folder_path/{dataset}_{backbone}.",
)
flags.DEFINE_bool(
    "overwrite_output_folder",
    RUN.overwrite_output_folder,
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


def settings_from_flags() -> Settings:
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
        run=from_flags(RunSettings),
        optimizer=from_flags(OptimizerSettings),
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


def flags_not_at_their_defaults() -> str:
    """One line: the flags this run changes (every flag is in log.txt and flags.txt)."""
    changed = [
        flag.serialize()
        for flag in FLAGS.get_flags_for_module(sys.modules[__name__])
        if flag.value != flag.default
    ]
    return "Flags not at their defaults (all of them: flags.txt): " + (
        " ".join(changed) if changed else "none"
    )


def main(argv):
    del argv
    if not FLAGS["verbosity"].present:  # TensorFlow's own info lines (saver timings) are noise
        logging.set_verbosity(logging.WARNING)
    try:
        settings_from_flags()  # a value that cannot work stops here, before TensorFlow loads
    except SettingsError as error:
        stop(error)
    try:
        from training import run as one_run  # TensorFlow is imported here
    except KeyboardInterrupt:
        stopped_by_ctrl_c()

    run_log = one_run.RunLog.start()  # everything printed goes to the run folder's log.txt too
    try:
        taken = adopt_architecture_of_weights_file()
        flags_text = this_program_flags()
        run_log.log_only(flags_text + "\n")  # all of them, in log.txt and flags.txt
        print(flags_not_at_their_defaults(), flush=True)
        if taken:
            print(taken, flush=True)
        one_run.run(
            settings_from_flags(),
            run_log=run_log,
            flags_text=flags_text,
            command=shlex.join(["python3", "-u", *sys.argv]),
        )
    except one_run.RunInterrupted as interruption:
        print(f"\n{interruption}", flush=True)
        sys.exit(128 + interruption.signal_number)  # the shell's convention: 143, 130
    except one_run.RUN_ERRORS as error:
        stop(error)
    except KeyboardInterrupt:  # outside the training steps (there, Ctrl-C saves and stops)
        stopped_by_ctrl_c()
    finally:
        run_log.stop()


def stopped_by_ctrl_c() -> None:
    print(
        "\nStopped by Ctrl-C. Nothing is left half-written: the same command starts again "
        "(a training run from its last checkpoint, an evaluation from the beginning).",
        flush=True,
    )
    sys.exit(130)


def stop(error: Exception) -> None:
    print(f"\nError: {error}", file=sys.stderr, flush=True)
    sys.exit(1)


def adopt_architecture_of_weights_file() -> str:
    """With --pretrained_model_file_path: the architecture flags that the command does not give
    are taken from the file's own description (applications.describe_model_file); one that the
    command gives and the file contradicts stops the run. Returns the line that says what was
    taken ("" for nothing).

    --use_horizontal_flipping_inside_model is taken when not given, but may differ: it changes
    how the model trains, not its weights.
    """
    import applications

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
        raise SettingsError(
            f"The weights file {file_path} was built for other values than this command gives "
            f"(from {description.source}):\n  " + "\n  ".join(conflicts) + "\nLeave these "
            "flags out (the file's values are then used), or give the values the file was built "
            "with."
        )
    if not taken:
        return ""
    return f"Taken from {description.source}: {', '.join(taken)}"


if __name__ == "__main__":
    app.run(main, flags_parser=command_line.parse_flags)
