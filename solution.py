"""FlipReID: train and evaluate a person re-identification model (entry point, flags only here).

    python3 -u solution.py --dataset_name Market1501 --use_horizontal_flipping_inside_model ...

Flags keep the names and defaults of the 2021 release, so its commands work unchanged.
"""

import legacy_keras  # noqa: F401, I001  (Keras 2 must be selected before TensorFlow is imported)

import sys

from absl import app, flags

import datasets

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
flags.DEFINE_string("pooling_mode", "GeM", "GeM, Average or Max.")
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
flags.DEFINE_string("learning_rate_mode", "default", "constant, linear, cosine, warmup or default.")
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


def main(argv):
    del argv
    print(FLAGS.flags_into_string(), flush=True)
    try:
        train_df, query_df, gallery_df, encoders = datasets.load_accumulated_info_of_dataset(
            FLAGS.root_folder_path,
            FLAGS.dataset_name,
            **(synthetic_options() if FLAGS.dataset_name == "Synthetic" else {}),
        )
    except datasets.DatasetError as error:
        sys.exit(f"\nError: {error}")
    print(datasets.describe_dataset(train_df, query_df, gallery_df), flush=True)
    print("Training and evaluation are not part of this version yet; the dataset is loaded.")


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
