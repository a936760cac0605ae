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


def verification_thresholds(distances, pids, rates):
    """The verification thresholds of one query (identity 1, camera 0) against a gallery on
    camera 1 with those identities and distances."""
    from evaluation.verification import VerificationAccumulator

    distmat = np.array([distances], np.float32)
    q_pids, q_camids = np.array([1]), np.array([0])
    g_pids, g_camids = np.array(pids), np.ones(len(pids), int)
    accumulator = VerificationAccumulator(q_pids, g_pids, g_camids, false_positive_rates=rates)
    accumulator.collect(distmat, q_pids, q_camids)
    accumulator.finish_collecting()
    accumulator.count(distmat, q_pids, q_camids)
    return accumulator.result()


def test_verification_thresholds_sit_halfway_between_accepted_and_rejected_distances():
    """Two positives and ten negatives; at a false positive rate of 1e-1 one negative may be
    accepted, so the first rejected distance is the second smallest negative, the demo's
    TensorFlow distance. The threshold is halfway from the last accepted distance (a positive,
    0.0012) to it, so ONNX Runtime's distance of the same pair stays rejected (a threshold
    equal to TensorFlow's distance accepted it)."""
    negatives = [0.0010, TENSORFLOW_DISTANCE] + [0.002 + 0.001 * i for i in range(8)]
    distances, pids = [0.0005, 0.0012] + negatives, [1, 1] + [2] * 10
    result = verification_thresholds(distances, pids, (1e-1,))
    last_accepted, first_rejected = float(np.float32(0.0012)), float(np.float32(negatives[1]))
    assert result.thresholds == ((last_accepted + first_rejected) / 2,)
    assert float(np.float32(ONNX_RUNTIME_DISTANCE)) > result.thresholds[0]
    assert result.true_positive_rates == (1.0,)  # the accepted pairs are the same as before


@pytest.mark.parametrize("seed", range(10))
def test_no_distance_moved_by_a_quarter_of_its_gap_crosses_a_verification_threshold(seed):
    """Random distances with ties: at each rate, every distance moved by a quarter of the gap to
    its nearest different neighbour stays on its side of the threshold, and at most floor(f N)
    negatives are below it; with nothing accepted the threshold is still below the smallest."""
    rng = np.random.default_rng(seed)
    distances = rng.choice(rng.uniform(0, 0.01, 30), size=60).astype(np.float32)
    pids = rng.choice([1, 2, 3], size=60)
    result = verification_thresholds(distances, pids, (0.5, 1e-1, 1e-3))
    negatives = distances[pids != 1]
    distinct = np.unique(distances).astype(float)
    for rate, threshold in zip((0.5, 1e-1, 1e-3), result.thresholds, strict=True):
        assert (negatives < threshold).sum() <= int(rate * len(negatives))
        for value in distinct:
            gap = np.abs(distinct[distinct != value] - value).min()
            for moved in (value - gap / 4, value + gap / 4):
                assert (moved < threshold) == (value < threshold), (rate, value, threshold)
