"""One table that compares runs: this project's run folders (history.csv) and the 2021
release's (training_A/ and training_B/accumulated_logs_dict.pkl), made by a sweep or by hand."""

import os
import pickle
from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")  # files only; works without a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from atomic_files import atomic_output, write_atomically  # noqa: E402

from .cross_domain import CROSS_DOMAIN_FILE_NAME, cross_domain_rows, cross_domain_table  # noqa: E402

SUMMARY_FILE_NAME = "sweep_summary.csv"
PLOT_FILE_NAME = "sweep_test_mAP.png"
# sweep_summary.csv's columns in fractions (0.8 means 80%), named so, as in history.csv
FRACTION_COLUMNS = (
    "best_test_mAP_fraction",
    "test_rank1_at_best_fraction",
    "best_test_re_ranking_mAP_fraction",
    "test_re_ranking_rank1_at_best_fraction",
)


@dataclass
class RunSummary:
    name: str
    folder: str
    values: dict[str, str] = field(default_factory=dict)  # the run's grid values
    status: str = "not started"  # finished, unfinished, failed, not started
    error: str = ""
    best_test_mAP: float = float("nan")
    test_rank1_at_best: float = float("nan")
    best_epoch: float = float("nan")
    best_test_re_ranking_mAP: float = float("nan")
    test_re_ranking_rank1_at_best: float = float("nan")
    training_hours: float = float("nan")
    curve: pd.Series | None = None  # test mAP by epoch


def result_folder(run_folder_path: str) -> str | None:
    """The folder that holds a run's history: the folder itself, or its one subfolder
    {dataset}_{backbone} (solution.py's output_folder_path/{dataset}_{backbone})."""
    if not os.path.isdir(run_folder_path):
        return None
    candidates = [run_folder_path] + [
        os.path.join(run_folder_path, name) for name in sorted(os.listdir(run_folder_path))
    ]
    for candidate in candidates:
        if os.path.isfile(os.path.join(candidate, "flags.txt")) or os.path.isdir(
            os.path.join(candidate, "training_B")
        ):
            return candidate
    return None


def read_history(folder_path: str) -> pd.DataFrame | None:
    """One row per epoch (from 1) with test_mAP, test_rank1 (and the re-ranking ones) where
    evaluated; this project's history.csv or the 2021 release's logs."""
    history_path = os.path.join(folder_path, "history.csv")
    if os.path.isfile(history_path):
        # This version names test columns *_fraction; earlier ones did not. The untrained
        # baseline (epoch 0) is no candidate for the best.
        history = pd.read_csv(history_path)
        history = history.rename(columns=lambda name: name.removesuffix("_fraction"))
        timing_path = os.path.join(folder_path, "timing.csv")
        if "epoch_seconds" not in history and os.path.isfile(timing_path):
            # Since 2026-12-05 wall times are kept apart, so history.csv repeats byte for byte.
            history = history.merge(pd.read_csv(timing_path), on="epoch", how="left")
        return history[history["epoch"] > 0].reset_index(drop=True)
    frames = []
    for phase in ("training_A", "training_B"):  # the 2021 release: its two phases
        logs_path = os.path.join(folder_path, phase, "accumulated_logs_dict.pkl")
        if os.path.isfile(logs_path):
            with open(logs_path, "rb") as logs_file:
                frames.append(release_2021_history(pickle.load(logs_file)))
    if not frames:
        return None
    offset = 0
    for frame in frames:  # epochs of the second phase follow those of the first
        frame["epoch"] += offset
        offset = int(frame["epoch"].max()) if len(frame) else offset
    return pd.concat(frames, ignore_index=True)


def release_2021_history(logs: dict) -> pd.DataFrame:
    """{name: {epoch from 0: value}} with names like test_cosine_False_mAP_score and
    test_cosine_False_rank_to_accuracy_dict ({"rank-1 accuracy": ...}) -> this project's
    columns."""
    records: dict[int, dict] = {}
    for re_ranked, prefix in (("False", "test"), ("True", "test_re_ranking")):
        for epoch, value in logs.get(f"test_cosine_{re_ranked}_mAP_score", {}).items():
            records.setdefault(epoch, {})[f"{prefix}_mAP"] = float(value)
        ranks = logs.get(f"test_cosine_{re_ranked}_rank_to_accuracy_dict", {})
        for epoch, accuracies in ranks.items():
            records.setdefault(epoch, {})[f"{prefix}_rank1"] = float(accuracies["rank-1 accuracy"])
    for epoch, value in logs.get("loss", {}).items():
        records.setdefault(epoch, {})["loss"] = float(value)
    frame = pd.DataFrame([{"epoch": epoch + 1, **values} for epoch, values in records.items()])
    return frame.sort_values("epoch").reset_index(drop=True) if len(frame) else frame


def summarize(summary: RunSummary) -> RunSummary:
    """Fill in the numbers of a run from its folder."""
    folder_path = result_folder(summary.folder)
    history = None if folder_path is None else read_history(folder_path)
    if folder_path is not None and summary.status == "not started":
        release_2021 = os.path.isdir(os.path.join(folder_path, "training_B"))
        finished = (
            os.path.isfile(os.path.join(folder_path, "finished.json"))
            or os.path.isfile(os.path.join(folder_path, "inference_model.h5"))  # earlier versions
            or (release_2021 and os.path.isfile(os.path.join(folder_path, "training_model.h5")))
        )
        summary.status = "finished" if finished else "unfinished"
    if history is None or "test_mAP" not in history or history["test_mAP"].isna().all():
        return summary
    best = history.loc[history["test_mAP"].idxmax()]
    summary.best_test_mAP = float(best["test_mAP"])
    summary.test_rank1_at_best = float(best.get("test_rank1", np.nan))
    summary.best_epoch = int(best["epoch"])
    if "test_re_ranking_mAP" in history and history["test_re_ranking_mAP"].notna().any():
        re_ranked = history.loc[history["test_re_ranking_mAP"].idxmax()]
        summary.best_test_re_ranking_mAP = float(re_ranked["test_re_ranking_mAP"])
        summary.test_re_ranking_rank1_at_best = float(re_ranked.get("test_re_ranking_rank1"))
    if "epoch_seconds" in history:
        summary.training_hours = float(history["epoch_seconds"].sum()) / 3600
    summary.curve = history.dropna(subset=["test_mAP"]).set_index("epoch")["test_mAP"]
    return summary


def summary_frame(summaries: list[RunSummary]) -> pd.DataFrame:
    grid_names = list(dict.fromkeys(name for s in summaries for name in s.values))
    rows = []
    for summary in summaries:
        rows.append(
            {
                "run": summary.name,
                **{name: summary.values.get(name, "") for name in grid_names},
                "status": summary.status,
                "best_test_mAP_fraction": summary.best_test_mAP,
                "test_rank1_at_best_fraction": summary.test_rank1_at_best,
                "best_epoch": summary.best_epoch,
                "best_test_re_ranking_mAP_fraction": summary.best_test_re_ranking_mAP,
                "test_re_ranking_rank1_at_best_fraction": summary.test_re_ranking_rank1_at_best,
                "training_hours": summary.training_hours,
                "error": summary.error,
                "folder": summary.folder,
            }
        )
    return pd.DataFrame(rows)


def write_summary(summaries: list[RunSummary], folder_path: str) -> str:
    """sweep_summary.csv and sweep_test_mAP.png in folder_path, and where runs test on several
    datasets sweep_cross_domain.csv (cross_domain.py); returns the printable table(s)."""
    frame = summary_frame(summaries)
    write_atomically(os.path.join(folder_path, SUMMARY_FILE_NAME), frame.to_csv(index=False))
    plot_curves(summaries, folder_path)
    table = printable_table(frame)
    cross_domain = cross_domain_rows(summaries)
    cross_domain_text = cross_domain_table(cross_domain)
    if cross_domain_text is not None:
        write_atomically(
            os.path.join(folder_path, CROSS_DOMAIN_FILE_NAME),
            pd.DataFrame(cross_domain).to_csv(index=False),
        )
        table += (
            "\n\nTrained on x tested on: mAP / rank-1 in %, of the evaluation each run's "
            "weights were chosen by\n" + cross_domain_text
        )
    return table


def plot_curves(summaries: list[RunSummary], folder_path: str) -> None:
    """sweep_test_mAP.png: each run's test mAP by epoch."""
    figure, axes = plt.subplots(figsize=(8, 5))
    for summary in summaries:
        if summary.curve is not None and len(summary.curve):
            axes.plot(
                summary.curve.index, 100 * summary.curve.values, marker="o", label=summary.name
            )
    axes.set_title(f"Test mAP of the runs in {os.path.basename(os.path.abspath(folder_path))}")
    epochs = sorted({epoch for s in summaries if s.curve is not None for epoch in s.curve.index})
    if 0 < len(epochs) <= 20:
        axes.set_xticks(epochs)  # whole epochs, also for one-epoch runs
    else:
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(0, 100)
    axes.set_xlabel("epoch")
    axes.set_ylabel("test mAP (%)")
    axes.grid(alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize="small")
    figure.tight_layout()
    with atomic_output(os.path.join(folder_path, PLOT_FILE_NAME)) as temporary_path:
        figure.savefig(temporary_path)
    plt.close(figure)


def printable_table(frame: pd.DataFrame) -> str:
    shown = frame.drop(columns=["folder"]).copy()
    for column in FRACTION_COLUMNS:
        shown[column] = (100 * shown[column]).map(
            lambda value: f"{value:.1f}" if value == value else ""
        )
    shown["best_epoch"] = shown["best_epoch"].map(lambda v: f"{int(v)}" if v == v else "")
    shown["training_hours"] = shown["training_hours"].map(lambda v: f"{v:.2f}" if v == v else "")
    shown = shown.rename(
        columns={
            "best_test_mAP_fraction": "mAP",
            "test_rank1_at_best_fraction": "rank-1",
            "best_epoch": "epoch",
            "best_test_re_ranking_mAP_fraction": "re-ranked mAP",
            "test_re_ranking_rank1_at_best_fraction": "re-ranked rank-1",
            "training_hours": "hours",
        }
    )
    lines = ["| " + " | ".join(shown.columns) + " |", "|" + " --- |" * len(shown.columns)]
    for _, row in shown.iterrows():
        lines.append("| " + " | ".join(str(value) for value in row.tolist()) + " |")
    return "\n".join(lines)
