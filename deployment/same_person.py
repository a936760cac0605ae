"""The "same person?" answer a model gives: the cosine distance thresholds of the evaluation its
weights were chosen by, one per false positive rate, kept in the model's description (the .json
beside inference_model.h5 or model.onnx) under "same_person". Imports no TensorFlow.

    thresholds = SamePersonThresholds.from_description(description)  # None: the model has none
    thresholds.threshold_at("1e-3")  # a pair whose distance is below it: the same person
"""

from dataclasses import asdict, dataclass

from evaluation.run_results import RATE_LABELS, chosen_plain_rows

DESCRIPTION_KEY = "same_person"


class ThresholdError(ValueError):
    """A false positive rate the model's description has no threshold for."""


@dataclass(frozen=True)
class SamePersonThresholds:
    """Thresholds of cosine distances between embeddings, and where they were measured."""

    dataset: str  # the test set of the evaluation
    epoch: int  # of the evaluation (0: before training)
    flip_averaged: bool  # whether that evaluation averaged each embedding with its mirror's
    thresholds: dict[str, float]  # {"1e-3": distance}: a pair below it is accepted
    true_positive_rates: dict[str, float]  # {"1e-3": fraction} the evaluation measured
    roc_auc: float

    def to_description(self) -> dict:
        return {DESCRIPTION_KEY: asdict(self)}

    @classmethod
    def from_description(cls, description: dict) -> "SamePersonThresholds | None":
        values = description.get(DESCRIPTION_KEY)
        return None if values is None else cls(**values)

    def threshold_at(self, rate_label: str) -> float:
        if rate_label not in self.thresholds:
            raise ThresholdError(
                f"The model's description has thresholds at the false positive rates "
                f"{', '.join(self.thresholds)}, not at {rate_label}; choose one of those."
            )
        return self.thresholds[rate_label]

    def explain(self, rate_label: str) -> str:
        """Where the threshold at rate_label comes from, in one sentence."""
        when = "before training" if self.epoch == 0 else f"after epoch {self.epoch}"
        return (
            f"Same person: cosine distance below {self.threshold_at(rate_label):.6f}, the "
            f"threshold at which at most 1 in {round(1 / float(rate_label)):,} pairs of different "
            f"people was accepted in the evaluation on {self.dataset} {when}"
            f"{' (flip-averaged embeddings)' if self.flip_averaged else ''}, where it accepted "
            f"{100 * self.true_positive_rates[rate_label]:.1f}% of the same-person pairs."
        )


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
    return SamePersonThresholds(
        dataset=str(best["dataset"]),
        epoch=int(best["epoch"]),
        flip_averaged=flip_averaged,
        thresholds={
            label: float(row[column])
            for label, column in zip(RATE_LABELS, threshold_columns, strict=True)
        },
        true_positive_rates={
            label: float(row[f"TPR_at_FPR_{label}_fraction"]) for label in RATE_LABELS
        },
        roc_auc=float(row["ROC_AUC_fraction"]),
    )
