"""The "same person?" mark's threshold never sits on a measured distance, so the last bits of
another runtime's arithmetic cannot flip a mark; impossible thresholds are refused. No
TensorFlow."""

import numpy as np
import pytest

from deployment import SamePersonThresholds, ThresholdError
from evaluation.top_of_list import mark_precision, threshold_at_precision

# The README demo's case (2026-12-06): TensorFlow's distance of a wrong match, the threshold the
# mark was given, and ONNX Runtime's distance of the same pair.
TENSORFLOW_DISTANCE = 0.0015164613723754883
ONNX_RUNTIME_DISTANCE = 0.0015164017677307129


def test_a_runtimes_last_bits_cannot_flip_the_mark_of_the_first_unmarked_result():
    """19 right results, then the wrong one at the demo's distance, then others: at 96% the
    mark takes the 19 right ones, and the wrong one stays unmarked at ONNX Runtime's distance
    too (a threshold equal to TensorFlow's distance marked it there)."""
    right = [0.0010 + 0.00002 * i for i in range(19)]  # up to 0.00136
    wrong = [TENSORFLOW_DISTANCE, 0.0016, 0.0017]
    distances = np.array([right + wrong + [0.002] * 8]).reshape(3, 10)
    correct = np.array([[True] * 19 + [False] * 11]).reshape(3, 10)
    threshold = threshold_at_precision(distances, correct, 0.96)
    assert threshold == pytest.approx((right[-1] + TENSORFLOW_DISTANCE) / 2, abs=0)
    assert right[-1] < threshold < ONNX_RUNTIME_DISTANCE < TENSORFLOW_DISTANCE
    onnx = distances.copy()
    onnx[onnx == TENSORFLOW_DISTANCE] = ONNX_RUNTIME_DISTANCE
    assert mark_precision(onnx, correct, threshold) == mark_precision(distances, correct, threshold)
    assert sum(mark_precision(onnx, correct, threshold).marked_at_ranks) == 19


@pytest.mark.parametrize("seed", range(20))
def test_no_measured_distance_moved_by_a_quarter_of_its_gap_changes_a_mark(seed):
    """Random lists (ties included): every distance moved up or down by a quarter of the gap to
    its nearest different neighbour (at most 5e-7 where there is none) keeps its mark, whether
    the mark takes some, all or none of the entries."""
    rng = np.random.default_rng(seed)
    distances = rng.choice(rng.uniform(0, 0.01, 25), size=(8, 10)).round(6)
    correct = rng.random((8, 10)) < [0.3, 0.9, 1.0, 0.0][seed % 4]
    threshold = threshold_at_precision(distances, correct, 0.8)
    marked = distances < threshold
    distinct = np.unique(distances)
    for value in distinct:
        neighbours = distinct[distinct != value]
        gap = np.abs(neighbours - value).min() if len(neighbours) else 2e-6
        for moved in (value - gap / 4, value + gap / 4):
            assert (moved < threshold) == (value < threshold), (value, moved, threshold)
    assert ((distances < threshold) == marked).all()


def test_impossible_thresholds_are_refused():
    good = dict(
        dataset="d",
        epoch=None,
        flip_averaged=False,
        thresholds={"1e-3": 0.002},
        true_positive_rates={"1e-3": 0.5},
        roc_auc=0.9,
    )
    SamePersonThresholds(**good)
    for change, phrase in (
        ({"thresholds": {"1e-3": -5}}, "-5, which no cosine distance can be"),
        ({"thresholds": {"1e-3": "0.002"}}, "which no cosine distance can be"),
        ({"thresholds": {}}, "not {rate: distance}"),
        ({"true_positive_rates": {"1e-3": 1.5}}, "not a fraction between 0 and 1"),
        ({"mark_threshold": 3.0, "mark_precision_at_ranks": []}, "3.0, which no cosine"),
    ):
        with pytest.raises(ThresholdError, match=phrase.replace("{", r"\{").replace("}", r"\}")):
            SamePersonThresholds(**{**good, **change})
    with pytest.raises(ThresholdError, match="damaged"):
        SamePersonThresholds.from_description({"same_person": {"dataset": "d"}})
    with pytest.raises(ThresholdError, match="not an object"):
        SamePersonThresholds.from_description({"same_person": [1]})
