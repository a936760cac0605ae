"""How far a "same person?" mark can be trusted where people look at it: the top of a ranked list.

A threshold chosen over all query-gallery pairs (verification.py: at most 1 in 1,000 pairs of
different people accepted) says little about the top of a list, where the gallery images most
like the query sit and with them the hard other identities: on the README demo, a quarter of the
top-10 results marked at FPR 1e-3 were other people. So the mark is calibrated on the lists
themselves.

Lists: each query's top_k gallery images under the ranking protocol (metrics.ranked_gallery: its
identity seen by its own camera left out, ties by gallery position), every query included (a
query without a true match still shows a list). An entry is marked at threshold t when its
distance is below t; the mark's precision at rank r is the fraction of the marked entries at rank
r, over all lists, that show the query's identity.

The threshold at precision p: sort every list entry by distance; among the cuts between two
different distances (and after the last entry), take the largest one whose marked entries (those
before the cut) are at least a fraction p of the query's identity; the threshold is halfway
between the last marked distance and the first unmarked one. Any value between the two marks
the same entries here, but a threshold placed on a measured distance lets the last bits of
another runtime's arithmetic flip that entry's mark (ONNX Runtime computed 0.0015164017677307129
where TensorFlow had 0.0015164613723754883, the threshold); halfway, only distances closer than
that to each other can. When every entry is marked the threshold is as far above the largest
distance (half the gap below it), and with no such cut as far below the smallest: nothing is
marked.

    accumulator = TopOfListAccumulator(g_pids, g_camids)
    for rows, block in blocks(): accumulator.add(block, q_pids[rows], q_camids[rows])
    metrics = accumulator.result(0.95, other_thresholds={"FPR 1e-3": 0.0021})
"""

from dataclasses import dataclass

import numpy as np

from .metrics import ranked_gallery

TOP_K = 10
PRECISION_TARGET = 0.95  # default share of marked top-10 results that must be the same person
# The gap assumed beyond a set of equal distances (cosine distances of float32 embeddings differ
# between runtimes by about 1e-7).
SMALLEST_GAP = 2e-6


@dataclass(frozen=True)
class MarkPrecision:
    """What a mark at one threshold does to the top_k lists of a test set."""

    threshold: float  # a distance; an entry below it is marked
    marked_at_ranks: tuple[int, ...]  # entries marked at rank 1, 2, ..., top_k
    correct_at_ranks: tuple[int, ...]  # of those, the query's identity

    @property
    def precision(self) -> float:
        """The share of all marked entries that are the query's identity (NaN: none marked)."""
        marked = sum(self.marked_at_ranks)
        return sum(self.correct_at_ranks) / marked if marked else float("nan")

    @property
    def precision_at_ranks(self) -> tuple[float, ...]:
        return tuple(
            correct / marked if marked else float("nan")
            for marked, correct in zip(self.marked_at_ranks, self.correct_at_ranks, strict=True)
        )


@dataclass(frozen=True)
class TopOfListMetrics:
    top_k: int
    list_num: int  # queries
    precision_target: float
    calibrated: MarkPrecision  # at the threshold chosen for precision_target
    others: dict[str, MarkPrecision]  # the same figures at other thresholds, by name


class TopOfListAccumulator:
    """Keeps each query's top_k (distance, same identity), a block of query rows at a time."""

    def __init__(self, g_pids: np.ndarray, g_camids: np.ndarray, top_k: int = TOP_K):
        self.g_pids, self.g_camids = np.asarray(g_pids), np.asarray(g_camids)
        self.top_k = top_k
        self.distances: list[np.ndarray] = []  # (top_k,) per query, NaN past a short gallery
        self.correct: list[np.ndarray] = []

    def add(self, distmat: np.ndarray, q_pids: np.ndarray, q_camids: np.ndarray) -> None:
        distmat = np.asarray(distmat)
        for distances, q_pid, q_camid in zip(distmat, q_pids, q_camids, strict=True):
            top = ranked_gallery(
                distances,
                q_pid=q_pid,
                q_camid=q_camid,
                g_pids=self.g_pids,
                g_camids=self.g_camids,
                top_k=self.top_k,
            )
            row = np.full(self.top_k, np.nan)
            row[: len(top)] = distances[top]
            correct = np.zeros(self.top_k, bool)
            correct[: len(top)] = self.g_pids[top] == q_pid
            self.distances.append(row)
            self.correct.append(correct)

    def result(
        self,
        precision_target: float = PRECISION_TARGET,
        other_thresholds: dict[str, float] | None = None,
    ) -> TopOfListMetrics:
        """The mark calibrated for precision_target, and the same figures at other_thresholds
        ({name: distance})."""
        distances = np.array(self.distances).reshape(-1, self.top_k)
        correct = np.array(self.correct).reshape(-1, self.top_k)
        threshold = threshold_at_precision(distances, correct, precision_target)
        return TopOfListMetrics(
            top_k=self.top_k,
            list_num=len(distances),
            precision_target=precision_target,
            calibrated=mark_precision(distances, correct, threshold),
            others={
                name: mark_precision(distances, correct, value)
                for name, value in (other_thresholds or {}).items()
            },
        )


def mark_precision(distances: np.ndarray, correct: np.ndarray, threshold: float) -> MarkPrecision:
    """distances, correct: (lists, top_k); NaN distances (no entry) are never marked."""
    marked = distances < threshold
    return MarkPrecision(
        threshold=float(threshold),
        marked_at_ranks=tuple(int(n) for n in marked.sum(axis=0)),
        correct_at_ranks=tuple(int(n) for n in (marked & correct).sum(axis=0)),
    )


def threshold_at_precision(distances: np.ndarray, correct: np.ndarray, target: float) -> float:
    """The threshold at precision `target` (module docstring) over every list entry."""
    present = ~np.isnan(distances)
    values, hits = distances[present], correct[present]
    if len(values) == 0:
        return float("nan")
    order = np.argsort(values, kind="stable")
    values, hits = values[order], hits[order]
    precision = np.cumsum(hits) / np.arange(1, len(values) + 1)
    # A cut after entry i separates different distances (or follows the last entry).
    cut_allowed = np.append(values[1:] > values[:-1], True)
    good = np.flatnonzero(cut_allowed & (precision >= target))
    distinct = np.unique(values)
    if len(good) == 0:  # nothing marked: below the smallest distance
        below = distinct[0] - (distinct[1] - distinct[0] if len(distinct) > 1 else SMALLEST_GAP)
        return halfway(below, distinct[0])
    last = good[-1]
    if last + 1 < len(values):
        return halfway(values[last], values[last + 1])
    above = distinct[-1] + (distinct[-1] - distinct[-2] if len(distinct) > 1 else SMALLEST_GAP)
    return halfway(distinct[-1], above)  # everything marked: above the largest distance


def halfway(marked: float, unmarked: float) -> float:
    """The threshold between the largest marked distance and the smallest unmarked one: their
    midpoint, or the unmarked one where the two are adjacent floats."""
    middle = (float(marked) + float(unmarked)) / 2
    return middle if float(marked) < middle < float(unmarked) else float(unmarked)
