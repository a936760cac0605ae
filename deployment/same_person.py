"""The "same person?" answer a model gives: the cosine distance thresholds of the evaluation its
weights were chosen by, kept in the model's description (the .json beside inference_model.h5 or
model.onnx) under "same_person". Imports no TensorFlow.

Two kinds: the mark for ranked lists (evaluation/top_of_list.py), chosen so that at least 95% of
the top-10 results it marked in that evaluation were the same person, with its precision at each
rank; and one threshold per false positive rate over all pairs (evaluation/verification.py),
with the share of the top-10 results it marked that were the same person.

    thresholds = SamePersonThresholds.from_description(description)  # None: the model has none
    thresholds.threshold_of(None)  # the ranked-list mark: a pair below it is the same person
    thresholds.threshold_of("1e-3")  # the threshold at a false positive rate of 1e-3
"""

import math
import os
from dataclasses import asdict, dataclass

from evaluation.run_results import RATE_LABELS, chosen_plain_rows
from evaluation.top_of_list import TOP_K
from settings.flag_files import parse_flag_lines

DESCRIPTION_KEY = "same_person"


# Cosine distances lie in 0..2; float rounding puts an image's distance to itself a little
# below 0 (1 - cos with cos rounded above 1).
DISTANCE_RANGE = (-1e-3, 2 + 1e-3)


class ThresholdError(ValueError):
    """A false positive rate the model's description has no threshold for, or thresholds that
    cannot be (damaged: not numbers, distances outside 0..2, fractions outside 0..1)."""


def check_distance(name: str, value) -> None:
    low, high = DISTANCE_RANGE
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ThresholdError(
            f"{name} is {value!r}, which no cosine distance can be (they lie in 0..2)"
        )


def check_fraction(name: str, value) -> None:
    """A fraction in 0..1, or None / NaN where nothing was measured."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ThresholdError(f"{name} is {value!r}, not a fraction between 0 and 1")


@dataclass(frozen=True)
class SamePersonThresholds:
    """Thresholds of cosine distances between embeddings, and where they were measured."""

    dataset: str  # the test set of the evaluation
    epoch: int | None  # of the evaluation (0: before training; None: an --evaluation_only run)
    flip_averaged: bool  # whether that evaluation averaged each embedding with its mirror's
    thresholds: dict[str, float]  # {"1e-3": distance}: a pair below it is accepted
    true_positive_rates: dict[str, float]  # {"1e-3": fraction} the evaluation measured
    roc_auc: float
    # The ranked-list mark (None in descriptions written before it existed).
    mark_threshold: float | None = None  # a distance
    mark_precision_target: float | None = None  # e.g. 0.95
    mark_precision_at_ranks: list | None = None  # fractions at rank 1..top_k; None: none marked
    mark_marked_fraction: float | None = None  # the share of the top-k results marked
    top_k: int = TOP_K
    top_precision_at_rates: dict[str, float] | None = None  # {"1e-3": top-k precision}

    def __post_init__(self):
        """Refuse what no evaluation can have measured (ThresholdError says which value)."""
        if not isinstance(self.thresholds, dict) or not self.thresholds:
            raise ThresholdError(f"thresholds is {self.thresholds!r}, not {{rate: distance}}")
        for label, value in self.thresholds.items():
            check_distance(f"the threshold at FPR {label}", value)
        if not isinstance(self.true_positive_rates, dict):
            raise ThresholdError(f"true_positive_rates is {self.true_positive_rates!r}")
        for label, value in self.true_positive_rates.items():
            check_fraction(f"the true positive rate at FPR {label}", value)
        check_fraction("roc_auc", self.roc_auc)
        if self.mark_threshold is not None:
            check_distance("the ranked-list mark's threshold", self.mark_threshold)
            check_fraction("mark_precision_target", self.mark_precision_target)
            check_fraction("mark_marked_fraction", self.mark_marked_fraction)
            if not isinstance(self.mark_precision_at_ranks, list):
                raise ThresholdError(
                    f"mark_precision_at_ranks is {self.mark_precision_at_ranks!r}, not a list"
                )
            for rank, value in enumerate(self.mark_precision_at_ranks, start=1):
                check_fraction(f"the mark's precision at rank {rank}", value)
        for label, value in (self.top_precision_at_rates or {}).items():
            check_fraction(f"the top-{self.top_k} precision at FPR {label}", value)

    def to_description(self) -> dict:
        return {DESCRIPTION_KEY: asdict(self)}

    def mark_name(self, rate: str | None) -> str:
        """The column of ranked_lists.csv for threshold_of(rate): same_person_top10_mark,
        same_person_at_FPR_1e-3."""
        if rate is None and self.mark_threshold is not None:
            return f"same_person_top{self.top_k}_mark"
        return f"same_person_at_FPR_{rate or '1e-3'}"

    def threshold_of(self, rate: str | None) -> float:
        """The ranked-list mark's threshold (rate None; the threshold at FPR 1e-3 for a model
        whose description predates it), or the threshold at a false positive rate."""
        if rate is None:
            return self.thresholds["1e-3"] if self.mark_threshold is None else self.mark_threshold
        return self.threshold_at(rate)

    @classmethod
    def from_description(cls, description: dict) -> "SamePersonThresholds | None":
        """The thresholds a model's description keeps (None: it has none); ThresholdError when
        its entry is damaged."""
        values = description.get(DESCRIPTION_KEY)
        if values is None:
            return None
        if not isinstance(values, dict):
            raise ThresholdError(f'its "{DESCRIPTION_KEY}" entry is {values!r}, not an object')
        try:
            return cls(**values)
        except TypeError as error:  # missing or unknown fields
            raise ThresholdError(f'its "{DESCRIPTION_KEY}" entry is damaged ({error})') from None

    def threshold_at(self, rate_label: str) -> float:
        if rate_label not in self.thresholds:
            raise ThresholdError(
                f"The model's description has thresholds at the false positive rates "
                f"{', '.join(self.thresholds)}, not at {rate_label}; choose one of those."
            )
        return self.thresholds[rate_label]

    def explain(self, rate: str | None) -> str:
        """Where the threshold of threshold_of(rate) comes from and what it promised there."""
        when = {0: " before training", None: ""}.get(self.epoch, f" after epoch {self.epoch}")
        evaluation = (
            f"the evaluation on {self.dataset}{when}"
            f"{' (flip-averaged embeddings)' if self.flip_averaged else ''}"
        )
        if rate is None and self.mark_threshold is not None:
            by_rank = ", ".join(
                f"{rank}: {'none marked' if p is None else f'{100 * p:.0f}%'}"
                for rank, p in enumerate(self.mark_precision_at_ranks, start=1)
            )
            return (
                f"Same person: cosine distance below {self.mark_threshold:.6f}, chosen so that "
                f"at least {100 * self.mark_precision_target:.0f}% of the top-{self.top_k} "
                f"results it marked in {evaluation} were the same person (it marked "
                f"{100 * self.mark_marked_fraction:.1f}% of the queries' top-{self.top_k} "
                "results). Marked results that were the same person, by rank: "
                f"{by_rank}."
            )
        rate = rate or "1e-3"
        sentence = (
            f"Same person: cosine distance below {self.threshold_at(rate):.6f}, the threshold "
            f"at which at most 1 in {round(1 / float(rate)):,} pairs of different people was "
            f"accepted in {evaluation}, where it accepted "
            f"{100 * self.true_positive_rates[rate]:.1f}% of the same-person pairs."
        )
        if self.top_precision_at_rates and self.top_precision_at_rates.get(rate) is not None:
            sentence += (
                f" At the top of a ranked list it is less sure: of the top-{self.top_k} results "
                f"it marked there, {100 * self.top_precision_at_rates[rate]:.0f}% were the same "
                "person."
            )
        else:
            sentence += (
                " At the top of a ranked list, where the most similar other people are, more "
                "of the marked results are other people than that rate suggests (the model's "
                "description predates the measured ranked-list mark)."
            )
        return sentence


def best_same_person_thresholds(
    output_folder_path: str, *, flip_averaged: bool
) -> SamePersonThresholds | None:
    """The thresholds of the evaluation a run's results.json names best (the one its weights
    were chosen by; with re-ranking watched, the plain distances of that same evaluation), or
    None when the run has no such evaluation. flip_averaged: how that evaluation embedded the
    images."""
    best, rows = chosen_plain_rows(output_folder_path)
    if best is None:
        return None
    threshold_columns = [f"cosine_distance_threshold_at_FPR_{label}" for label in RATE_LABELS]
    if not set(threshold_columns) <= set(rows.columns):
        return None  # evaluated before this version kept the verification figures
    plain = rows[rows["dataset"] == best["dataset"]]
    if plain.empty or plain[threshold_columns].iloc[0].isna().any():
        return None
    row = plain.iloc[0]
    mark = {}
    mark_column = f"cosine_distance_threshold_of_top{TOP_K}_mark"
    if mark_column in row and not math.isnan(row[mark_column]):
        mark = dict(
            mark_threshold=float(row[mark_column]),
            mark_precision_target=float(row[f"top{TOP_K}_mark_precision_target_fraction"]),
            mark_precision_at_ranks=[
                finite_or_none(row[f"top{TOP_K}_mark_precision_rank{rank}_fraction"])
                for rank in range(1, TOP_K + 1)
            ],
            mark_marked_fraction=float(row[f"top{TOP_K}_marked_fraction"]),
            top_precision_at_rates={
                label: finite_or_none(row[f"top{TOP_K}_precision_at_FPR_{label}_fraction"])
                for label in RATE_LABELS
            },
        )
    return SamePersonThresholds(
        dataset=str(best["dataset"]),
        epoch=None if best["epoch"] in ("", None) else int(best["epoch"]),
        flip_averaged=flip_averaged,
        thresholds={
            label: float(row[column])
            for label, column in zip(RATE_LABELS, threshold_columns, strict=True)
        },
        true_positive_rates={
            label: float(row[f"TPR_at_FPR_{label}_fraction"]) for label in RATE_LABELS
        },
        roc_auc=float(row["ROC_AUC_fraction"]),
        **mark,
    )


def thresholds_of_run_folder(output_folder_path: str) -> SamePersonThresholds | None:
    """The thresholds of a run folder (a training run, or an --evaluation_only one on your own
    labelled images): those of the evaluation its results.json names best, with whether it
    averaged the mirror read from its flags.txt; None when it has no such evaluation."""
    flags_path = os.path.join(output_folder_path, "flags.txt")
    flags = {}
    if os.path.isfile(flags_path):
        with open(flags_path) as flags_file:
            flags = parse_flag_lines(flags_file.read())
    flipping = flags.get("use_horizontal_flipping_in_evaluation", "false") == "true"
    try:
        return best_same_person_thresholds(output_folder_path, flip_averaged=flipping)
    except ThresholdError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as error:
        # json and pandas raise ValueErrors for garbage or an empty file; a list, or a row
        # without the fields, raises the others.
        raise ThresholdError(
            f"results.json or results.csv in {output_folder_path} cannot be read "
            f"({type(error).__name__}: {error})"
        ) from None


def finite_or_none(value) -> float | None:
    """A fraction for the description's JSON: None where nothing was measured (NaN)."""
    value = float(value)
    return None if math.isnan(value) else value
