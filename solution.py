"""FlipReID: train and evaluate a person re-identification model (entry point, flags only here).

    python3 -u solution.py --dataset_name Market1501 --use_horizontal_flipping_inside_model ...

Flags keep the names and defaults of the 2021 release, so its commands work unchanged.
"""

import legacy_keras  # noqa: F401, I001  (Keras 2 must be selected before TensorFlow is imported)

import os
import sys

import tensorflow as tf
from absl import app, flags

import applications
import callbacks
import datasets
import image_augmentation
from datasets import DatasetError
from datasets.sampling import TooFewIdentitiesError, iterate_identity_batches
from load_backbones import BackboneError

FLAGS = flags.FLAGS

# Dataset
flags.DEFINE_string(
    "root_folder_path",
    "~/Documents/Local Storage/Dataset",
    "Folder that holds the dataset folders (for Synthetic: where it is written).",
)
flags.DEFINE_string(
    "dataset_name",
    "Market1501",
    "Market1501, DukeMTMC_reID, MSMT17, Synthetic, CSV, or the path of a .csv file.",
)
flags.DEFINE_integer("synthetic_train_identity_num", 100, "Synthetic: training identities.")
flags.DEFINE_integer("synthetic_test_identity_num", 100, "Synthetic: test identities.")
flags.DEFINE_integer("synthetic_camera_num", 6, "Synthetic: cameras (2 to 9).")
flags.DEFINE_integer("synthetic_image_height", 128, "Synthetic: height of the generated images.")
flags.DEFINE_integer("synthetic_image_width", 64, "Synthetic: width of the generated images.")
flags.DEFINE_integer("seed", 0, "Seed of the synthetic dataset, sampling and augmentation.")
# Model
flags.DEFINE_string(
    "backbone_model_name",
    "resnet50",
    "resnet50, ibn_resnet50, resnesta50, or a smaller tf2cv ResNet (resnet18, resnet34).",
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
    20,
    "Epochs of the first phase, which trains only the new layers.",
)
flags.DEFINE_integer("image_width", 128, "Width of the model input.")
flags.DEFINE_integer("image_height", 384, "Height of the model input.")
flags.DEFINE_integer("region_num", 2, "Horizontal stripes of the regional branch.")
flags.DEFINE_float("kernel_regularization_factor", 0.0005, "L2 factor on kernels.")
flags.DEFINE_float("bias_regularization_factor", 0.0005, "L2 factor on biases.")
flags.DEFINE_float("gamma_regularization_factor", 0.0005, "L2 factor on BatchNormalization gamma.")
flags.DEFINE_float("beta_regularization_factor", 0.0005, "L2 factor on BatchNormalization beta.")
flags.DEFINE_enum("pooling_mode", "GeM", ["GeM", "Average", "Max"], "Pooling of each embedding.")
flags.DEFINE_float("min_value", 0.0, "Lower clip of the pooled embeddings.")
flags.DEFINE_float("max_value", 1.0, "Upper clip of the pooled embeddings.")
# Evaluation
flags.DEFINE_float(
    "testing_size",
    1.0,
    "Fraction (0, 1) or number (> 1) of test identities to evaluate on; 0 disables "
    "testing, 1 uses everything.",
)
flags.DEFINE_integer(
    "evaluate_testing_every_N_epochs", 10, "Evaluate every N epochs (and always at the last epoch)."
)
flags.DEFINE_bool(
    "use_horizontal_flipping_in_evaluation",
    False,
    "Embedding = mean of the image's and its mirror's embeddings.",
)
flags.DEFINE_bool("use_re_ranking", False, "k-reciprocal re-ranking (Zhong et al., CVPR 2017).")
flags.DEFINE_bool("evaluation_only", False, "Only evaluate pretrained_model_file_path.")
flags.DEFINE_bool("save_data_to_disk", False, "Save features, identities and cameras as .npz.")
# Training
flags.DEFINE_integer("identity_num_per_batch", 16, "P: identities per batch.")
flags.DEFINE_integer("image_num_per_identity", 4, "K: images per identity in a batch.")
flags.DEFINE_enum(
    "learning_rate_mode",
    "default",
    ["constant", "linear", "cosine", "warmup", "default"],
    "Learning-rate schedule (DESIGN.md section 5).",
)
flags.DEFINE_float("learning_rate_start", 2e-4, "Learning rate at the first epoch.")
flags.DEFINE_float("learning_rate_end", 2e-4, "Learning rate at the last epoch.")
flags.DEFINE_float("learning_rate_base", 2e-4, "Learning rate after warm-up (default mode).")
flags.DEFINE_integer("learning_rate_warmup_epochs", 10, "Warm-up epochs.")
flags.DEFINE_integer("learning_rate_steady_epochs", 30, "Epochs between drops (default mode).")
flags.DEFINE_float("learning_rate_drop_factor", 10, "Divisor at each drop (0: derive it).")
flags.DEFINE_float("learning_rate_lower_bound", 2e-6, "The learning rate never goes below this.")
flags.DEFINE_integer("steps_per_epoch", 200, "Training steps per epoch.")
flags.DEFINE_integer("epoch_num", 1000000, "Epochs of the second phase.")
flags.DEFINE_integer("workers", 5, "Parallel image decoding and augmentation calls.")
flags.DEFINE_float("patch_replacement_probability", 0.8, "Random grayscale patch replacement.")
flags.DEFINE_float("random_erasing_probability", 0.8, "Random erasing.")
flags.DEFINE_bool("use_data_augmentation_in_training", True, "Augment training images.")
flags.DEFINE_bool(
    "use_horizontal_flipping_inside_model",
    False,
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
    "evaluate_testing_before_training", False, "Evaluate the untrained model first, as a baseline."
)


def main(argv):
    del argv
    print(FLAGS.flags_into_string(), flush=True)
    try:
        run()
    except (DatasetError, BackboneError, TooFewIdentitiesError, UsageError) as error:
        sys.exit(f"\nError: {error}")


class UsageError(Exception):
    """A flag combination or a file that cannot work; the message says what to change."""


def run() -> None:
    if FLAGS.evaluation_only and not os.path.isfile(FLAGS.pretrained_model_file_path):
        raise UsageError(
            "--evaluation_only needs --pretrained_model_file_path pointing at the .h5 weights "
            f"written by training (training_model.h5); got {FLAGS.pretrained_model_file_path!r}."
        )
    output_folder_path = prepare_output_folder()
    tf.keras.utils.set_random_seed(FLAGS.seed)
    train_df, query_df, gallery_df, encoders = datasets.load_accumulated_info_of_dataset(
        FLAGS.root_folder_path,
        FLAGS.dataset_name,
        **(synthetic_options() if FLAGS.dataset_name == "Synthetic" else {}),
    )
    train_df, query_df, gallery_df = (
        drop_unreadable_images(frame, split_name)
        for frame, split_name in ((train_df, "train"), (query_df, "query"), (gallery_df, "gallery"))
    )
    query_df, gallery_df = datasets.select_testing_subset(
        query_df, gallery_df, FLAGS.testing_size, seed=0
    )
    print(datasets.describe_dataset(train_df, query_df, gallery_df), flush=True)
    label_encoder = encoders["identity_ID"]
    if not FLAGS.evaluation_only:  # too few identities for a P x K batch: stop before building
        next(
            iterate_identity_batches(
                train_df["identity_ID"].to_numpy(),
                FLAGS.identity_num_per_batch,
                FLAGS.image_num_per_identity,
            )
        )
    model_config = dict(
        backbone_model_name=FLAGS.backbone_model_name,
        input_shape=(FLAGS.image_height, FLAGS.image_width, 3),
        class_num=len(label_encoder.classes_),
        region_num=FLAGS.region_num,
        pooling_mode=FLAGS.pooling_mode,
        min_value=FLAGS.min_value,
        max_value=FLAGS.max_value,
        use_horizontal_flipping=FLAGS.use_horizontal_flipping_inside_model,
    )
    training_model, inference_model = applications.init_model(
        **model_config,
        use_pretrained_backbone=FLAGS.use_pretrained_backbone,
        pretrained_backbone_weights_file_path=FLAGS.pretrained_backbone_weights_file_path,
        kernel_regularization_factor=FLAGS.kernel_regularization_factor,
        bias_regularization_factor=FLAGS.bias_regularization_factor,
        gamma_regularization_factor=FLAGS.gamma_regularization_factor,
        beta_regularization_factor=FLAGS.beta_regularization_factor,
    )
    if FLAGS.pretrained_model_file_path:
        load_model_weights(training_model, FLAGS.pretrained_model_file_path)
    evaluator = None
    if len(query_df) and len(gallery_df):
        evaluator = callbacks.Evaluator(
            inference_model,
            query_df,
            gallery_df,
            FLAGS.image_height,
            FLAGS.image_width,
            FLAGS.use_horizontal_flipping_in_evaluation,
            FLAGS.use_re_ranking,
            FLAGS.evaluate_testing_every_N_epochs,
            output_folder_path,
            FLAGS.save_data_to_disk,
            FLAGS.workers,
        )
    if FLAGS.evaluation_only:
        if evaluator is None:
            raise UsageError("--evaluation_only needs a test set: set --testing_size above 0.")
        logs = evaluator.evaluate("evaluation only")
        print(f"Test mAP ({evaluator.monitor}): {logs[evaluator.monitor]:.4f}")
        inference_model_path = (
            os.path.splitext(FLAGS.pretrained_model_file_path)[0] + "_inference_model.h5"
        )
        if not os.path.exists(inference_model_path):
            applications.save_inference_model(inference_model, inference_model_path, model_config)
            print(f"Standalone inference model written to {inference_model_path}")
        return
    train(
        training_model,
        inference_model,
        model_config,
        train_df,
        label_encoder,
        evaluator,
        output_folder_path,
    )


def train(
    training_model,
    inference_model,
    model_config,
    train_df,
    label_encoder,
    evaluator,
    output_folder_path,
) -> None:
    dataset = image_augmentation.build_training_dataset(
        train_df["image_file_path"],
        label_encoder.transform(train_df["identity_ID"]),
        len(label_encoder.classes_),
        training_model.output_names,
        FLAGS.identity_num_per_batch,
        FLAGS.image_num_per_identity,
        FLAGS.image_height,
        FLAGS.image_width,
        FLAGS.use_data_augmentation_in_training,
        FLAGS.patch_replacement_probability,
        FLAGS.random_erasing_probability,
        FLAGS.workers,
        FLAGS.seed,
    )
    weights_file_path = os.path.join(output_folder_path, "training_model.h5")
    learning_rate_setter = callbacks.LearningRateSetter(
        {
            name: getattr(FLAGS, name)
            for name in (
                "learning_rate_mode",
                "learning_rate_start",
                "learning_rate_end",
                "learning_rate_base",
                "learning_rate_warmup_epochs",
                "learning_rate_steady_epochs",
                "learning_rate_drop_factor",
                "learning_rate_lower_bound",
            )
        }
    )
    history_logger = callbacks.HistoryLogger(output_folder_path)
    epoch_printer = callbacks.EpochPrinter()
    epoch_callbacks = [learning_rate_setter, callbacks.GeMPowerLogger()]
    if evaluator is not None:
        if FLAGS.evaluate_testing_before_training:
            evaluator.evaluate("before training")
        epoch_callbacks += [
            evaluator,
            callbacks.BestModelCheckpoint(weights_file_path, evaluator.monitor),
        ]
    epoch_callbacks += [history_logger, epoch_printer]
    phases = [
        ("frozen backbone", FLAGS.freeze_backbone_for_N_epochs, False),
        ("whole model", FLAGS.epoch_num, True),
    ]
    epoch_offset = 0
    for phase_name, epoch_num, backbone_trainable in phases:
        if epoch_num <= 0:
            continue
        applications.set_backbone_trainable(training_model, backbone_trainable)
        applications.compile_training_model(training_model)
        for callback in (learning_rate_setter, evaluator, epoch_printer):
            if callback is not None:
                callback.epoch_num = epoch_num
        for callback in (evaluator, history_logger, epoch_printer):
            if callback is not None:
                callback.epoch_offset = epoch_offset
        history_logger.phase = epoch_printer.phase = phase_name
        print(
            f"\nPhase: {phase_name}, {epoch_num} epochs of {FLAGS.steps_per_epoch} steps",
            flush=True,
        )
        training_model.fit(
            dataset,
            epochs=epoch_num,
            steps_per_epoch=FLAGS.steps_per_epoch,
            callbacks=epoch_callbacks,
            verbose=0,
        )
        epoch_offset += epoch_num
    if evaluator is None:  # no test set: the last weights are the result
        applications.save_weights_atomically(training_model, weights_file_path)
    else:
        applications.load_weights(training_model, weights_file_path)  # the best by test mAP
    applications.save_inference_model(
        inference_model, os.path.join(output_folder_path, "inference_model.h5"), model_config
    )
    print(
        f"\nDone. Weights: {weights_file_path}; standalone inference model: "
        f"{os.path.join(output_folder_path, 'inference_model.h5')}; history and plots in "
        f"{output_folder_path}"
    )


def prepare_output_folder() -> str:
    """output_folder_path/{dataset}_{backbone}, created; stops if it already holds results."""
    dataset_label = os.path.splitext(os.path.basename(FLAGS.dataset_name))[0]
    output_folder_path = os.path.abspath(
        os.path.join(
            os.path.expanduser(FLAGS.output_folder_path),
            f"{dataset_label}_{FLAGS.backbone_model_name}",
        )
    )
    # flags.txt alone is not a result: a run that stopped on a bad flag may be repeated.
    if os.path.isdir(output_folder_path) and set(os.listdir(output_folder_path)) - {"flags.txt"}:
        if not FLAGS.overwrite_output_folder:
            raise UsageError(
                f"The output folder {output_folder_path} already holds results; nothing was "
                "changed. Choose another --output_folder_path (e.g. one per run of a sweep), move "
                "the old results away, or pass --overwrite_output_folder to write over files of "
                "the same names (nothing else is deleted)."
            )
        print(f"Writing over results in {output_folder_path} (--overwrite_output_folder).")
    os.makedirs(output_folder_path, exist_ok=True)
    flags_file_path = os.path.join(output_folder_path, "flags.txt")
    with open(flags_file_path, "w") as flags_file:
        flags_file.write(FLAGS.flags_into_string())
    print(
        f"Output folder: {output_folder_path} (rerun with --flagfile {flags_file_path})", flush=True
    )
    return output_folder_path


def drop_unreadable_images(frame, split_name: str):
    readable = image_augmentation.find_readable_images(frame["image_file_path"], FLAGS.workers)
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


def synthetic_options() -> dict:
    return dict(
        train_identity_num=FLAGS.synthetic_train_identity_num,
        test_identity_num=FLAGS.synthetic_test_identity_num,
        camera_num=FLAGS.synthetic_camera_num,
        image_height=FLAGS.synthetic_image_height,
        image_width=FLAGS.synthetic_image_width,
        seed=FLAGS.seed,
    )


if __name__ == "__main__":
    app.run(main)
