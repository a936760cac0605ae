"""The "same person?" mark of a search: the thresholds (the model's own, or those of a
calibration run folder), the one chosen, and the sentence that says where it comes from."""

import os
from dataclasses import dataclass

import numpy as np

import evaluation
from deployment import SamePersonThresholds, ThresholdError, thresholds_of_run_folder

from .errors import SearchError


@dataclass(frozen=True)
class SamePersonMarks:
    column_name: str  # of ranked_lists.csv: same_person_top10_mark, same_person_at_FPR_1e-3
    accepted: np.ndarray  # (queries, gallery) bool: plain cosine distance below the threshold


def calibration_thresholds(folder_path: str) -> SamePersonThresholds:
    """The thresholds of the evaluation in a run folder (--same_person_calibration_path)."""
    if not os.path.isdir(folder_path):
        raise SearchError(
            f"--same_person_calibration_path {folder_path!r} is not a folder; give the run folder "
            "of an evaluation (e.g. ./evaluation_only/CSV_resnet50, the folder its results.csv "
            "is in)."
        )
    try:
        thresholds = thresholds_of_run_folder(folder_path)
    except ThresholdError as error:
        raise SearchError(
            f"--same_person_calibration_path {folder_path!r} holds damaged results: {error}. Run "
            "the --evaluation_only command again into a new folder and pass that folder."
        ) from None
    if thresholds is None:
        raise SearchError(
            f'{folder_path!r} holds no evaluation with "same person?" thresholds (results.csv '
            "and results.json of this version); run solution.py --evaluation_only with this "
            "model on your labelled images, then pass its run folder."
        )
    return thresholds


def chosen_threshold(
    thresholds: SamePersonThresholds | None, *, false_positive_rate: float | None
) -> tuple[str | None, float] | None:
    """(rate label, threshold) at false_positive_rate (--same_person_false_positive_rate),
    (None, the ranked-list mark's threshold) without it, or None without thresholds."""
    if thresholds is None:
        return None
    rate = false_positive_rate
    label = None if rate is None else evaluation.rate_label(rate)
    return label, thresholds.threshold_of(label)


def same_person_note(thresholds, same_person, *, flipping: bool, re_ranked: bool) -> str:
    """Where the "same person?" marks come from, or why there are none."""
    if same_person is None:
        return (
            "Same person: this model comes without thresholds (a 2021 release checkpoint, or a "
            "run without a test set or from before they were kept), so no match is marked."
        )
    note = thresholds.explain(same_person[0])
    if re_ranked:
        note += " It is applied to the plain cosine distances, not the re-ranked ones."
    if thresholds.flip_averaged != flipping:
        note += (
            " Caution: that evaluation "
            + ("averaged" if thresholds.flip_averaged else "did not average")
            + " each embedding with its mirror's, this search "
            + ("does" if flipping else "does not")
            + ", so the rate holds only roughly."
        )
    return note
