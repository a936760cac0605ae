"""Test-set evaluation between epochs: features, CMC and mAP, optional re-ranking and .npz."""

import io
import os
import time

import keras
import numpy as np
import pandas as pd

import evaluation
import visualization
from applications import FeatureExtractor
from atomic_files import write_atomically
from settings import EvaluationSettings, TrainingPhases


class Evaluator(keras.callbacks.Callback):
    """Evaluates one test dataset every N epochs of a phase and at each phase's last epoch; adds
    its entries to the logs (test_mAP, test_rank1, ... for the watched dataset; test_<label>_mAP
    ... for the others). Also usable on its own: evaluate(description) returns those entries."""

    def __init__(
        self,
        inference_model: keras.Model,
        *,
        query_df: pd.DataFrame,
        gallery_df: pd.DataFrame,
        settings: EvaluationSettings,
        output_folder_path: str,
        phases: TrainingPhases | None = None,
        workers: int = 5,
        batch_size: int = 64,
        dataset_label: str = "",
        log_prefix: str = "test",
    ):
        """dataset_label: the dataset's name in messages and file names; log_prefix: of its log
        entries ("test" for the dataset the best model is chosen by)."""
        super().__init__()
        self.inference_model = inference_model
        self.query_df, self.gallery_df = query_df, gallery_df
        # Video datasets: the frames to embed per tracklet; query_df and gallery_df become one
        # row per tracklet (its first frame's path stands for it in pictures and .npz files).
        self.sampled_tracklets = None
        if evaluation.has_tracklets(query_df):
            self.sampled_tracklets = {
                split: evaluation.sample_tracklets(frame_df, settings.sequence_length)
                for split, frame_df in (("query", query_df), ("gallery", gallery_df))
            }
            self.query_df = self.sampled_tracklets["query"].tracklets
            self.gallery_df = self.sampled_tracklets["gallery"].tracklets
        self.dataset_label, self.log_prefix = dataset_label, log_prefix
        self.settings, self.phases = settings, phases
        self.output_folder_path = output_folder_path
        self.extract_features = FeatureExtractor(
            inference_model,
            use_horizontal_flipping=settings.use_horizontal_flipping_in_evaluation,
            workers=workers,
            batch_size=batch_size,
        )

    @property
    def monitor(self) -> str:
        return self.settings.monitor

    @property
    def file_suffix(self) -> str:
        """ "" for the watched dataset, "_<label>" for the others (their files' names)."""
        return "" if self.log_prefix == "test" else f"_{self.dataset_label}"

    def evaluate(
        self, description: str, *, final: bool = False, file_tag: str | None = None
    ) -> dict[str, float]:
        """Print the results table and return the test_* log entries; when `final`, also write
        the ranked lists (settings.ranked_list_num). With --save_data_to_disk the features go
        to features_<file_tag>.npz (file_tag defaults to the description)."""
        flip_note = ", flip-averaged" if self.settings.use_horizontal_flipping_in_evaluation else ""
        on = f" on {self.dataset_label}" if self.dataset_label else ""
        # Said first: the embedding takes seconds to minutes (progress_lines.py's lines while it
        # lasts), and the table comes only after it.
        print(
            f"\nEvaluation {description}{on}: embedding {self.image_num('query'):,} query and "
            f"{self.image_num('gallery'):,} gallery images{flip_note} ...",
            flush=True,
        )
        start = time.perf_counter()
        (query_features, query_image_num), (gallery_features, gallery_image_num) = (
            self.embed(split) for split in ("query", "gallery")
        )
        feature_seconds = time.perf_counter() - start
        image_num = query_image_num + gallery_image_num
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
            query_expansion=(
                (self.settings.query_expansion_k, self.settings.query_expansion_alpha)
                if self.settings.use_query_expansion
                else None
            ),
            same_person_precision=self.settings.same_person_precision,
        )
        metric_seconds = time.perf_counter() - start
        of_tracklets = (
            f" pooled into {len(query_features) + len(gallery_features)} tracklets"
            if self.sampled_tracklets
            else ""
        )
        print(
            f"Evaluation {description}{on}: features of {image_num} images{of_tracklets} in "
            f"{feature_seconds:.1f} s ({image_num / max(feature_seconds, 1e-9):.0f} images/s"
            f"{flip_note}), metrics in {metric_seconds:.1f} s\n"
            f"{evaluation.format_results_table(results)}",
            flush=True,
        )
        if self.settings.save_data_to_disk:
            self.save_features(file_tag or description, query_features, gallery_features, labels)
        if final and self.settings.ranked_list_num:
            self.write_ranked_lists(
                results.ranking["plain"], query_features, gallery_features, labels
            )
        return evaluation.metrics_to_logs(results, prefix=self.log_prefix)

    def image_num(self, split: str) -> int:
        """The images embed(split) embeds (for a video dataset, the sampled frames)."""
        if self.sampled_tracklets is None:
            return len(self.query_df if split == "query" else self.gallery_df)
        return len(self.sampled_tracklets[split].frame_paths)

    def embed(self, split: str) -> tuple[np.ndarray, int]:
        """(features of the query or gallery rows, images embedded): for a video dataset one
        row per tracklet, the mean of its sampled frames' embeddings (each flip-averaged when
        asked), evaluation/tracklets.py."""
        if self.sampled_tracklets is None:
            frame_df = self.query_df if split == "query" else self.gallery_df
            features = self.extract_features(frame_df["image_file_path"])
            return features, len(features)
        sampled = self.sampled_tracklets[split]
        pooler = evaluation.TrackletPooler(sampled.frame_tracklet_rows, len(sampled.tracklets))
        for frame_features in self.extract_features.iterate_batches(sampled.frame_paths):
            pooler.add(frame_features)  # the frames' features are never all held
        return pooler.result(), len(sampled.frame_paths)

    def write_ranked_lists(self, metrics, query_features, gallery_features, labels) -> None:
        """Pictures of the ranked_list_num worst and best queries by average precision (plain
        cosine distances, the protocol's same-camera images of the query's identity left out)
        under ranked_lists/, and ranked_lists/index.html."""
        folder_path = os.path.join(self.output_folder_path, f"ranked_lists{self.file_suffix}")
        average_precisions = metrics.query_average_precisions
        valid = np.flatnonzero(~np.isnan(average_precisions))
        by_precision = valid[np.argsort(average_precisions[valid], kind="stable")]
        count = self.settings.ranked_list_num
        chosen = [("worst", index) for index in by_precision[:count]]
        chosen += [("best", index) for index in by_precision[::-1][:count]]
        gallery_paths = self.gallery_df["image_file_path"].to_numpy(str)
        pages = []
        for order, (kind, query_index) in enumerate(chosen, start=1):
            distances = next(
                evaluation.iterate_distance_chunks(
                    query_features[query_index : query_index + 1], gallery_features
                )
            )[1][0]
            top = evaluation.ranked_gallery(
                distances,
                q_pid=labels["q_pids"][query_index],
                q_camid=labels["q_camids"][query_index],
                g_pids=labels["g_pids"],
                g_camids=labels["g_camids"],
                top_k=10,
            )
            query_path = self.query_df["image_file_path"][query_index]
            picture_path = os.path.join(folder_path, f"{order:03d}_{kind}.png")
            visualization.write_picture(
                picture_path,
                visualization.draw_ranked_list(
                    query_path,
                    gallery_paths[top],
                    distances[top],
                    matches=(labels["g_pids"][top] == labels["q_pids"][query_index]).tolist(),
                ),
            )
            precision = average_precisions[query_index]
            pages.append(
                visualization.RankedListPage(
                    f"{kind}: {os.path.basename(query_path)}",
                    os.path.basename(picture_path),
                    f"average precision {100 * precision:.1f}%",
                )
            )
        visualization.write_index_html(
            os.path.join(folder_path, "index.html"),
            pages,
            heading=f"The {count} worst and {count} best queries by average precision",
        )
        print(f"Ranked lists of {len(chosen)} queries: {folder_path}/index.html", flush=True)

    def save_features(self, file_tag, query_features, gallery_features, labels) -> None:
        file_path = os.path.join(
            self.output_folder_path,
            f"features{self.file_suffix}_{file_tag.replace(' ', '_')}.npz",
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
            logs.update(
                self.evaluate(f"epoch {epoch + 1}", final=epoch + 1 == self.phases.epoch_num)
            )
