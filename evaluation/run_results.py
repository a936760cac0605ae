"""A run's results files as callbacks/results.py writes them and as others read them back: their
names, the verification columns, and the plain rows of the evaluation the run's weights were
chosen by. Imports no TensorFlow.

    best, rows = chosen_plain_rows("output/Market1501_resnet50")  # (None, None): none chosen
"""

import json
import os

import pandas as pd

from .evaluate import TOP_OF_LIST, rate_label
from .top_of_list import TOP_K
from .verification import FALSE_POSITIVE_RATES

RESULTS_CSV, RESULTS_JSON = "results.csv", "results.json"
RATE_LABELS = tuple(rate_label(rate) for rate in FALSE_POSITIVE_RATES)
# (results.csv column, log entry without its prefix) of the verification figures.
VERIFICATION_COLUMNS = (
    *((f"TPR_at_FPR_{label}_fraction", f"TPR_at_FPR_{label}") for label in RATE_LABELS),
    ("ROC_AUC_fraction", "ROC_AUC"),
    *(
        (f"cosine_distance_threshold_at_FPR_{label}", f"threshold_at_FPR_{label}")
        for label in RATE_LABELS
    ),
    *(
        (f"top{TOP_K}_precision_at_FPR_{label}_fraction", f"top{TOP_K}_precision_at_FPR_{label}")
        for label in RATE_LABELS
    ),
    # the mark calibrated on the top of the ranked lists (evaluation/top_of_list.py)
    (f"cosine_distance_threshold_of_top{TOP_K}_mark", f"{TOP_OF_LIST}_threshold"),
    (f"top{TOP_K}_marked_fraction", f"{TOP_OF_LIST}_marked"),
    (f"top{TOP_K}_mark_precision_target_fraction", f"{TOP_OF_LIST}_precision_target"),
    *(
        (f"top{TOP_K}_mark_precision_rank{rank}_fraction", f"{TOP_OF_LIST}_precision_rank{rank}")
        for rank in range(1, TOP_K + 1)
    ),
)


def plain_rows(output_folder_path: str) -> pd.DataFrame | None:
    """results.csv's rows of plain distances (every evaluation, every test dataset), or None
    without the file."""
    csv_path = os.path.join(output_folder_path, RESULTS_CSV)
    if not os.path.isfile(csv_path):
        return None
    rows = pd.read_csv(csv_path)
    return rows[rows["distances"] == "plain"]


def chosen_plain_rows(output_folder_path: str) -> tuple[dict | None, pd.DataFrame | None]:
    """(results.json's best row, the plain rows of its evaluation on every test dataset): the
    evaluation the weights were chosen by, whichever kind of distance was watched; (None, None)
    when the files or a best evaluation are missing."""
    json_path = os.path.join(output_folder_path, RESULTS_JSON)
    rows = plain_rows(output_folder_path)
    if rows is None or not os.path.isfile(json_path):
        return None, None
    with open(json_path) as json_file:
        best = json.load(json_file).get("best")
    if not best:
        return None, None
    if best["epoch"] in ("", None):  # an --evaluation_only run: its evaluation has no epoch
        return best, rows[rows["epoch"].isna()]
    return best, rows[rows["epoch"].astype(str) == str(best["epoch"])]
