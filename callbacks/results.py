"""The evaluations of a run, kept: results.csv (one row per evaluation, per test dataset and kind
of distance: plain, re-ranked, query-expanded, query-expanded and re-ranked), and results.json
(the watched metric's best evaluation and the last one). Values are fractions, as the column
names say (the printed tables are in percent), except the thresholds, which are cosine
distances. The verification figures (TPR at each false positive rate, ROC AUC, thresholds;
evaluation/verification.py) are those of the plain distances, so the other rows leave them
empty.

    rows = result_rows(history_records, testing_sets=[TestingSetName("Market1501", "test")])
    write_results(output_folder_path, rows, watched="test_mAP")
"""

import json
import math
import os
from dataclasses import dataclass

import pandas as pd

from atomic_files import write_atomically
from evaluation.run_results import RESULTS_CSV, RESULTS_JSON, VERIFICATION_COLUMNS

METRICS = ("rank1", "rank5", "rank10", "rank20", "mAP", "mINP")


@dataclass(frozen=True)
class TestingSetName:
    """A test dataset's label and the prefix of its log entries (test_mAP: prefix "test")."""

    label: str
    prefix: str


def result_rows(records: list[dict], *, testing_sets: list[TestingSetName]) -> list[dict]:
    """One row per (record, test dataset, kind of distance) that holds an evaluation."""
    rows = []
    for record in records:
        for testing_set in testing_sets:
            for kind, prefix in (
                ("plain", testing_set.prefix),
                ("re-ranked", f"{testing_set.prefix}_re_ranking"),
                ("query-expanded", f"{testing_set.prefix}_query_expansion"),
                ("query-expanded, re-ranked", f"{testing_set.prefix}_query_expansion_re_ranking"),
            ):
                if f"{prefix}_mAP" not in record:
                    continue
                row = {
                    "epoch": record.get("epoch", ""),
                    "phase": record.get("phase", ""),
                    "dataset": testing_set.label,
                    "distances": kind,
                }
                row.update({f"{name}_fraction": record[f"{prefix}_{name}"] for name in METRICS})
                for column, entry in VERIFICATION_COLUMNS:  # of plain distances only
                    row[column] = (
                        record.get(f"{testing_set.prefix}_{entry}") if kind == "plain" else None
                    )
                row["log_entry"] = f"{prefix}_mAP"
                rows.append(row)
    return rows


def write_results(
    output_folder_path: str,
    rows: list[dict],
    *,
    watched: str,
    trained_on: list[str] | None = None,
) -> None:
    """results.csv and results.json; watched: the log entry the best model is chosen by (e.g.
    test_mAP), whose best row (the first with the largest value, after training began) results.json
    names; trained_on: the run's training datasets, which results.json names (None: unknown, as
    for a weights file evaluated)."""
    if not rows:
        return
    write_atomically(
        os.path.join(output_folder_path, RESULTS_CSV),
        pd.DataFrame(rows).drop(columns="log_entry").to_csv(index=False),
    )
    candidates = [row for row in rows if row["log_entry"] == watched and row["epoch"] != 0]
    best = max(candidates, key=lambda row: row["mAP_fraction"], default=None)
    last_epoch = rows[-1]["epoch"]
    summary = {
        "units": "fractions (0.8 means 80%)",
        **({} if trained_on is None else {"trained_on": list(trained_on)}),
        "watched": watched,
        "best": None if best is None else without_entry(best),
        "last": [without_entry(row) for row in rows if row["epoch"] == last_epoch],
    }
    write_atomically(
        os.path.join(output_folder_path, RESULTS_JSON), json.dumps(summary, indent=2) + "\n"
    )


def without_entry(row: dict) -> dict:
    """The row for results.json: no log entry name, and null (valid JSON) where a figure
    was not measured (NaN: e.g. the mark's precision at a rank where it marked nothing)."""
    return {
        name: None if isinstance(value, float) and math.isnan(value) else value
        for name, value in row.items()
        if name != "log_entry"
    }
