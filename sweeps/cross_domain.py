"""The train x test table of domain-generalisation papers, from run folders that test on several
datasets (--testing_dataset_names): one row per training dataset (per run where several share
one), one column per test dataset, mAP and rank-1 of the evaluation the run's weights were
chosen by (results.json's best; every evaluation of an --evaluation_only run), plain distances.
A run whose weights were chosen by a dataset it did not train on (the held-out targets of
domain generalisation) is read at its last evaluation instead, so that no target picks the
model. The splits of one test set (VIPeR_split0 .. VIPeR_split9) share one column: their mean
and spread (standard deviation over the splits).

    rows = cross_domain_rows(summaries)  # RunSummary objects (summary.py)
    print(cross_domain_table(rows))
"""

import os
import re

import pandas as pd

from settings.flag_files import parse_flag_lines

SPLIT_LABEL = re.compile(r"^(?P<dataset>.+)_split(?P<split>\d)$")

CROSS_DOMAIN_FILE_NAME = "sweep_cross_domain.csv"


def cross_domain_rows(summaries) -> list[dict]:
    """{run, trained_on, tested_on, mAP_fraction, rank1_fraction} of each run's chosen
    evaluation on each test dataset."""
    from evaluation.run_results import chosen_plain_rows, plain_rows  # not at sweep.py's start

    from .summary import result_folder

    rows = []
    for summary in summaries:
        folder_path = result_folder(summary.folder)
        if folder_path is None:
            continue
        flags_path = os.path.join(folder_path, "flags.txt")
        if not os.path.isfile(flags_path):
            continue
        with open(flags_path) as flags_file:
            flags = parse_flag_lines(flags_file.read())
        if flags.get("evaluation_only") == "true":  # every evaluation of the weights file
            chosen = plain_rows(folder_path)
        else:
            best, chosen = chosen_plain_rows(folder_path)
            if best is not None and not chosen_by_a_training_dataset(best["dataset"], flags):
                rows_of_run = plain_rows(folder_path)
                last_epoch = rows_of_run["epoch"].astype(float).max()
                chosen = rows_of_run[rows_of_run["epoch"].astype(float) == last_epoch]
        if chosen is None:
            continue
        trained_on = training_dataset(flags)
        for _, row in chosen.iterrows():
            rows.append(
                {
                    "run": summary.name,
                    "trained_on": trained_on,
                    "tested_on": row["dataset"],
                    "mAP_fraction": float(row["mAP_fraction"]),
                    "rank1_fraction": float(row["rank1_fraction"]),
                }
            )
    return rows


def chosen_by_a_training_dataset(label: str, flags: dict[str, str]) -> bool:
    """Whether the test set a run's weights were chosen by (its label) is one of the datasets
    the run trained on (--dataset_name, one or several)."""
    names = re.split("[,+]", flags.get("dataset_name", "Market1501"))
    trained = {os.path.splitext(os.path.basename(name.strip()))[0] for name in names}
    split = SPLIT_LABEL.match(label)
    return label in trained or (split is not None and split["dataset"] in trained)


def averaged_over_splits(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows with the splits of one test set (tested_on VIPeR_split0 .. VIPeR_split9) of one
    run replaced by one row (tested_on "VIPeR (10 splits)") holding their mean, with their
    standard deviations in mAP_spread and rank1_spread (0 for other rows)."""
    frame = frame.assign(mAP_spread=0.0, rank1_spread=0.0)
    split = frame["tested_on"].str.extract(SPLIT_LABEL.pattern)["dataset"]
    rows, averaged = [], set()
    for index, row in frame.iterrows():
        dataset = split[index]
        if not isinstance(dataset, str):
            rows.append(row.to_dict())
            continue
        if (row["run"], dataset) in averaged:
            continue
        averaged.add((row["run"], dataset))
        group = frame[(frame["run"] == row["run"]) & (split == dataset)]
        rows.append(
            {
                **row.to_dict(),
                "tested_on": f"{dataset} ({len(group)} splits)",
                "mAP_fraction": group["mAP_fraction"].mean(),
                "rank1_fraction": group["rank1_fraction"].mean(),
                "mAP_spread": group["mAP_fraction"].std(ddof=0),
                "rank1_spread": group["rank1_fraction"].std(ddof=0),
            }
        )
    return pd.DataFrame(rows)


def training_dataset(flags: dict[str, str]) -> str:
    """The dataset a run's weights were trained on: its --dataset_name, or for an evaluation of
    a weights file, that file's run's (its flags.txt), else the file's name."""
    if flags.get("evaluation_only") != "true":
        return os.path.splitext(os.path.basename(flags.get("dataset_name", "Market1501")))[0]
    weights_path = flags.get("pretrained_model_file_path", "")
    weights_flags_path = os.path.join(os.path.dirname(weights_path), "flags.txt")
    if os.path.isfile(weights_flags_path):
        with open(weights_flags_path) as flags_file:
            return training_dataset(parse_flag_lines(flags_file.read()))
    return os.path.basename(weights_path) or "?"


def cross_domain_table(rows: list[dict]) -> str | None:
    """A Markdown table, training datasets down, test datasets across, "mAP / rank-1" in
    percent (over the splits of a test set: "mAP ± spread / rank-1 ± spread"); None when no
    run tests on more than one dataset."""
    if not rows:
        return None
    frame = averaged_over_splits(pd.DataFrame(rows))
    if frame.groupby("run")["tested_on"].nunique().max() < 2:
        return None
    runs_per_dataset = frame.groupby("trained_on")["run"].nunique()
    frame["trained"] = [
        trained if runs_per_dataset[trained] == 1 else f"{trained} ({run})"
        for trained, run in zip(frame["trained_on"], frame["run"], strict=True)
    ]
    tested = list(dict.fromkeys(frame["tested_on"]))
    lines = [
        "| trained on \\ tested on | " + " | ".join(tested) + " |",
        "|" + " --- |" * (len(tested) + 1),
    ]
    for trained, group in frame.groupby("trained", sort=False):
        cells = {row["tested_on"]: cell(row) for _, row in group.iterrows()}
        lines.append(f"| {trained} | " + " | ".join(cells.get(t, "") for t in tested) + " |")
    return "\n".join(lines)


def cell(row) -> str:
    """ "mAP / rank-1" in percent, with " ± spread" after each for a mean over splits."""
    if "splits)" not in row["tested_on"]:
        return f"{100 * row['mAP_fraction']:.1f} / {100 * row['rank1_fraction']:.1f}"
    return (
        f"{100 * row['mAP_fraction']:.1f} ± {100 * row['mAP_spread']:.1f} / "
        f"{100 * row['rank1_fraction']:.1f} ± {100 * row['rank1_spread']:.1f}"
    )
