"""Test-set evaluation between epochs: features, CMC and mAP, optional re-ranking and .npz."""

import os
import time

import numpy as np
import pandas as pd
import tensorflow as tf

import evaluation
from image_augmentation import build_evaluation_dataset


class Evaluator(tf.keras.callbacks.Callback):
    """Evaluates every N epochs of a phase and at its last epoch; adds test_* entries to logs."""

    def __init__(
        self,
        inference_model,
        query_df: pd.DataFrame,
        gallery_df: pd.DataFrame,
        image_height: int,
        image_width: int,
        use_horizontal_flipping: bool,
        use_re_ranking: bool,
        evaluate_every_N_epochs: int,
        output_folder_path: str,
        save_data_to_disk: bool,
        workers: int,
        batch_size: int = 64,
    ):
        super().__init__()
        self.inference_model = inference_model
        self.query_df, self.gallery_df = query_df, gallery_df
        self.image_size = (image_height, image_width)
        self.use_horizontal_flipping = use_horizontal_flipping
        self.use_re_ranking = use_re_ranking
        self.evaluate_every_N_epochs = max(1, evaluate_every_N_epochs)
        self.output_folder_path = output_folder_path
        self.save_data_to_disk = save_data_to_disk
        self.workers, self.batch_size = workers, batch_size
        self.epoch_num = 1  # of the current phase; set before each fit
        self.epoch_offset = 0  # epochs of earlier phases
        self.embed = tf.function(self.embed_batch)

    @property
    def monitor(self) -> str:
        """The log entry the best model is chosen by."""
        return "test_re_ranking_mAP" if self.use_re_ranking else "test_mAP"

    def embed_batch(self, images):
        features = tf.concat(self.inference_model(images, training=False), axis=-1)
        if self.use_horizontal_flipping:
            mirrored = tf.concat(
                self.inference_model(tf.reverse(images, axis=[2]), training=False), axis=-1
            )
            features = (features + mirrored) / 2.0
        return features

    def extract_features(self, image_file_paths) -> np.ndarray:
        dataset = build_evaluation_dataset(
            image_file_paths, *self.image_size, self.batch_size, self.workers
        )
        return np.concatenate([self.embed(images).numpy() for images in dataset]).astype(np.float32)

    def evaluate(self, description: str) -> dict[str, float]:
        start = time.perf_counter()
        query_features = self.extract_features(self.query_df["image_file_path"])
        gallery_features = self.extract_features(self.gallery_df["image_file_path"])
        feature_seconds = time.perf_counter() - start
        image_num = len(query_features) + len(gallery_features)
        labels = [
            frame[column].to_numpy()
            for column in ("identity_ID", "camera_ID")
            for frame in (self.query_df, self.gallery_df)
        ]
        q_pids, g_pids, q_camids, g_camids = labels
        start = time.perf_counter()
        results = evaluation.evaluate_features(
            query_features,
            gallery_features,
            q_pids,
            g_pids,
            q_camids,
            g_camids,
            self.use_re_ranking,
        )
        metric_seconds = time.perf_counter() - start
        print(
            f"\nEvaluation {description}: features of {image_num} images in "
            f"{feature_seconds:.1f} s ({image_num / max(feature_seconds, 1e-9):.0f} images/s"
            f"{', flip-averaged' if self.use_horizontal_flipping else ''}), "
            f"metrics in {metric_seconds:.1f} s\n{evaluation.format_results_table(results)}",
            flush=True,
        )
        if self.save_data_to_disk:
            self.save_features(description, query_features, gallery_features, labels)
        return evaluation.metrics_to_logs(results)

    def save_features(self, description, query_features, gallery_features, labels) -> None:
        file_path = os.path.join(
            self.output_folder_path, f"features_{description.replace(' ', '_')}.npz"
        )
        with open(file_path + ".tmp", "wb") as npz_file:
            np.savez(
                npz_file,
                query_features=query_features,
                gallery_features=gallery_features,
                query_identity_IDs=labels[0],
                gallery_identity_IDs=labels[1],
                query_camera_IDs=labels[2],
                gallery_camera_IDs=labels[3],
                query_image_file_paths=self.query_df["image_file_path"].to_numpy(str),
                gallery_image_file_paths=self.gallery_df["image_file_path"].to_numpy(str),
            )
        os.replace(file_path + ".tmp", file_path)
        print(f"Features saved to {file_path}", flush=True)

    def on_epoch_end(self, epoch, logs=None):
        is_last = epoch + 1 == self.epoch_num
        if (epoch + 1) % self.evaluate_every_N_epochs == 0 or is_last:
            logs.update(self.evaluate(f"epoch {self.epoch_offset + epoch + 1}"))
