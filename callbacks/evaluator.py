"""Test-set evaluation between epochs: features, CMC and mAP, optional re-ranking and .npz."""

import io
import os
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import tensorflow as tf

import evaluation
from atomic_files import write_atomically
from image_augmentation import build_evaluation_dataset
from settings_checks import require_at_least

from .phases import TrainingPhases


@dataclass(frozen=True)
class EvaluationSettings:
    """When and how the test set is evaluated; field names are the command-line flags."""

    evaluate_testing_every_N_epochs: int = 10
    use_horizontal_flipping_in_evaluation: bool = False
    use_re_ranking: bool = False
    save_data_to_disk: bool = False
    evaluate_testing_before_training: bool = False

    def __post_init__(self):
        require_at_least(self, evaluate_testing_every_N_epochs=1)

    @property
    def monitor(self) -> str:
        """The log entry the best model is chosen by."""
        return "test_re_ranking_mAP" if self.use_re_ranking else "test_mAP"


class Evaluator(tf.keras.callbacks.Callback):
    """Evaluates every N epochs of a phase and at each phase's last epoch; adds test_* entries
    to the logs. Also usable on its own: evaluate(description) returns those entries."""

    def __init__(
        self,
        inference_model: tf.keras.Model,
        *,
        query_df: pd.DataFrame,
        gallery_df: pd.DataFrame,
        settings: EvaluationSettings,
        output_folder_path: str,
        phases: TrainingPhases | None = None,
        workers: int = 5,
        batch_size: int = 64,
    ):
        super().__init__()
        self.inference_model = inference_model
        self.query_df, self.gallery_df = query_df, gallery_df
        self.settings, self.phases = settings, phases
        self.output_folder_path = output_folder_path
        self.workers, self.batch_size = workers, batch_size
        self.embed = tf.function(self.embed_batch)

    @property
    def monitor(self) -> str:
        return self.settings.monitor

    def embed_batch(self, images):
        features = tf.concat(self.inference_model(images, training=False), axis=-1)
        if self.settings.use_horizontal_flipping_in_evaluation:
            mirrored = tf.concat(
                self.inference_model(tf.reverse(images, axis=[2]), training=False), axis=-1
            )
            features = (features + mirrored) / 2.0
        return features

    def extract_features(self, image_file_paths) -> np.ndarray:
        dataset = build_evaluation_dataset(
            image_file_paths,
            image_size=tuple(self.inference_model.input_shape[1:3]),
            batch_size=self.batch_size,
            workers=self.workers,
        )
        return np.concatenate([self.embed(images).numpy() for images in dataset]).astype(np.float32)

    def evaluate(self, description: str) -> dict[str, float]:
        start = time.perf_counter()
        query_features = self.extract_features(self.query_df["image_file_path"])
        gallery_features = self.extract_features(self.gallery_df["image_file_path"])
        feature_seconds = time.perf_counter() - start
        image_num = len(query_features) + len(gallery_features)
        labels = {
            "q_pids": self.query_df["identity_ID"].to_numpy(),
            "g_pids": self.gallery_df["identity_ID"].to_numpy(),
            "q_camids": self.query_df["camera_ID"].to_numpy(),
            "g_camids": self.gallery_df["camera_ID"].to_numpy(),
        }
        start = time.perf_counter()
        results = evaluation.evaluate_features(
            query_features,
            gallery_features,
            **labels,
            use_re_ranking=self.settings.use_re_ranking,
        )
        metric_seconds = time.perf_counter() - start
        flip_note = ", flip-averaged" if self.settings.use_horizontal_flipping_in_evaluation else ""
        print(
            f"\nEvaluation {description}: features of {image_num} images in "
            f"{feature_seconds:.1f} s ({image_num / max(feature_seconds, 1e-9):.0f} images/s"
            f"{flip_note}), metrics in {metric_seconds:.1f} s\n"
            f"{evaluation.format_results_table(results)}",
            flush=True,
        )
        if self.settings.save_data_to_disk:
            self.save_features(description, query_features, gallery_features, labels)
        return evaluation.metrics_to_logs(results)

    def save_features(self, description, query_features, gallery_features, labels) -> None:
        file_path = os.path.join(
            self.output_folder_path, f"features_{description.replace(' ', '_')}.npz"
        )
        content = io.BytesIO()
        np.savez(
            content,
            query_features=query_features,
            gallery_features=gallery_features,
            query_identity_IDs=labels["q_pids"],
            gallery_identity_IDs=labels["g_pids"],
            query_camera_IDs=labels["q_camids"],
            gallery_camera_IDs=labels["g_camids"],
            query_image_file_paths=self.query_df["image_file_path"].to_numpy(str),
            gallery_image_file_paths=self.gallery_df["image_file_path"].to_numpy(str),
        )
        write_atomically(file_path, content.getvalue())
        print(f"Features saved to {file_path}", flush=True)

    def on_epoch_end(self, epoch, logs=None):
        phase = self.phases.at(epoch)
        epoch_in_phase = epoch - phase.first_epoch + 1
        if (
            epoch_in_phase % self.settings.evaluate_testing_every_N_epochs == 0
            or epoch + 1 == phase.end_epoch
        ):
            logs.update(self.evaluate(f"epoch {epoch + 1}"))
