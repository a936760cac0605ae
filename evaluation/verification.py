"""Verification: is a query-gallery pair the same person? The true positive rate at fixed false
positive rates, the ROC AUC, and the distance thresholds that give those rates.

Pairs are those the ranking protocol keeps (metrics.py): every query with every gallery image,
except the images of the query's identity seen by the query's camera. A pair is positive when
both images have the same identity, negative otherwise (distractors, 0, and junk, -1, are
ordinary other identities, as in the ranking metrics).

A pair is accepted as "the same person" when its distance is BELOW a threshold. With N negative
pairs and a false positive rate f, let k = floor(f N): the threshold at f is the (k+1)-th
smallest negative distance, so that at most k negatives (at most a fraction f) are below it,
and it is the largest threshold with that property; TPR(f) is the fraction of positives below
it. The threshold written is halfway between that negative and the largest distance (positive
or negative) below it, which accepts the same pairs: a threshold on a measured distance lets the
last bits of another runtime's arithmetic accept that pair (top_of_list.py measured it on the
demo), halfway only distances closer than that to each other can; with no distance below, it is
as far below as the next distance is above. With k + 1 > N every pair is accepted (threshold
infinity). The ROC AUC is the probability that a positive pair is closer than a negative one,
ties counting half (the Mann-Whitney statistic over all positive x negative pairs).

Memory stays at a few rows of distances: every positive distance is kept (each query has a few),
of the negatives only the smallest floor(max f N) + 1 (N is known from the identities before any
distance is), selected as the blocks pass; the AUC then counts, in a second pass over the same
blocks, how many negatives lie below each positive.

    accumulator = VerificationAccumulator(q_pids, g_pids, g_camids)
    for start, block in blocks(): accumulator.collect(block, q_pids[rows], q_camids[rows])
    accumulator.finish_collecting()
    for start, block in blocks(): accumulator.count(block, q_pids[rows], q_camids[rows])
    metrics = accumulator.result()
"""

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .top_of_list import SMALLEST_GAP, halfway

FALSE_POSITIVE_RATES = (1e-2, 1e-3, 1e-4)
SLICE_ENTRIES = 2**22  # distances masked at a time (16 MB of float32)


@dataclass(frozen=True)
class VerificationMetrics:
    false_positive_rates: tuple[float, ...]
    true_positive_rates: tuple[float, ...]  # one per false positive rate, fractions
    thresholds: tuple[float, ...]  # distances; a pair below one is accepted at that rate
    roc_auc: float
    positive_pair_num: int
    negative_pair_num: int


def false_positives_allowed(false_positive_rate: float, negative_pair_num: int) -> int:
    """floor(f N), exactly for f written in decimal (1e-3 * 1000 is 1, never 0.999...)."""
    return int(Fraction(repr(false_positive_rate)) * negative_pair_num)


class VerificationAccumulator:
    """Collects a query x gallery distance matrix a block of rows at a time, twice (see the
    module docstring); the blocks of the second pass must be those of the first."""

    def __init__(
        self,
        q_pids: np.ndarray,
        g_pids: np.ndarray,
        g_camids: np.ndarray,
        false_positive_rates: tuple[float, ...] = FALSE_POSITIVE_RATES,
    ):
        """q_pids: every query's identity (the number of negative pairs is known from them)."""
        self.g_pids, self.g_camids = np.asarray(g_pids), np.asarray(g_camids)
        self.false_positive_rates = tuple(false_positive_rates)
        identities, counts = np.unique(self.g_pids, return_counts=True)
        gallery_count = dict(zip(identities.tolist(), counts.tolist(), strict=True))
        self.negative_num = sum(
            len(self.g_pids) - gallery_count.get(pid, 0) for pid in np.asarray(q_pids).tolist()
        )
        self.kept_num = false_positives_allowed(max(self.false_positive_rates), self.negative_num)
        self.kept_num += 1
        self.positive_chunks: list[np.ndarray] = []
        self.negative_chunks: list[np.ndarray] = []
        self.buffered_num, self.cutoff = 0, np.inf  # no kept negative is above the cutoff
        self.sorted_positives = self.smallest_negatives = None
        self.wrong_num = self.tied_num = 0

    def pairs(self, distmat, q_pids, q_camids, *, negative_bound: float):
        """Yield (positive distances, the negative distances not above negative_bound) of the
        block, a slice of rows at a time."""
        distmat = np.asarray(distmat)
        if distmat.shape != (len(q_pids), len(self.g_pids)):
            raise ValueError(
                f"distmat has shape {distmat.shape}; expected (query_num, gallery_num) = "
                f"({len(q_pids)}, {len(self.g_pids)})."
            )
        step = max(1, SLICE_ENTRIES // max(1, len(self.g_pids)))
        for start in range(0, len(distmat), step):
            rows = slice(start, start + step)
            same_identity = np.asarray(q_pids[rows])[:, None] == self.g_pids[None, :]
            same_camera = np.asarray(q_camids[rows])[:, None] == self.g_camids[None, :]
            values = distmat[rows]
            negative = ~same_identity
            if negative_bound < np.inf:
                negative &= values <= negative_bound
            yield values[same_identity & ~same_camera], values[negative]

    def collect(self, distmat: np.ndarray, q_pids: np.ndarray, q_camids: np.ndarray) -> None:
        """First pass: keep the positives and a running selection of the smallest negatives."""
        for positives, negatives in self.pairs(
            distmat, q_pids, q_camids, negative_bound=self.cutoff
        ):
            self.positive_chunks.append(positives.astype(np.float32))
            self.negative_chunks.append(negatives.astype(np.float32))
            self.buffered_num += len(negatives)
            if self.buffered_num > 2 * self.kept_num:
                self.select_smallest_negatives()

    def select_smallest_negatives(self) -> None:
        """Reduce the buffered negatives to the kept_num smallest (every value a threshold can
        be); the cutoff becomes the largest of them."""
        buffered = np.concatenate([np.empty(0, np.float32), *self.negative_chunks])
        if len(buffered) > self.kept_num:
            buffered = np.partition(buffered, self.kept_num - 1)[: self.kept_num]
            self.cutoff = buffered.max()
        self.negative_chunks, self.buffered_num = [buffered], len(buffered)

    def finish_collecting(self) -> None:
        self.select_smallest_negatives()
        self.smallest_negatives = np.sort(self.negative_chunks[0])
        self.negative_chunks = []
        self.sorted_positives = np.sort(
            np.concatenate([np.empty(0, np.float32), *self.positive_chunks])
        )
        self.positive_chunks = []

    def count(self, distmat: np.ndarray, q_pids: np.ndarray, q_camids: np.ndarray) -> None:
        """Second pass: for each positive, the negatives closer than it (a wrongly ordered pair
        each) and those tied with it. The slice's negatives are sorted and the positives
        searched in them: far faster than searching each of the many negatives among the
        positives."""
        positives = self.sorted_positives
        if len(positives) == 0:
            return
        # Negatives above every positive are no wrong pair: left out before sorting.
        bound = float(positives[-1])
        for _, negatives in self.pairs(distmat, q_pids, q_camids, negative_bound=bound):
            negatives = np.sort(negatives)
            below = np.searchsorted(negatives, positives, side="left")
            not_above = np.searchsorted(negatives, positives, side="right")
            self.wrong_num += int(below.sum())
            self.tied_num += int((not_above - below).sum())

    def largest_distance_below(self, threshold: float) -> float:
        """The largest kept distance below threshold (every positive and every negative below
        the threshold is kept); when none is, as far below as the next kept distance above it
        (SMALLEST_GAP without one), as top_of_list.py does when nothing is marked."""
        below, above = [], []
        for values in (self.sorted_positives, self.smallest_negatives):
            position = np.searchsorted(values, threshold, side="left")
            below += [float(values[position - 1])] if position else []
            position = np.searchsorted(values, threshold, side="right")
            above += [float(values[position])] if position < len(values) else []
        if below:
            return max(below)
        return threshold - (min(above) - threshold if above else SMALLEST_GAP)

    def result(self) -> VerificationMetrics:
        positive_num, negative_num = len(self.sorted_positives), self.negative_num
        rates, thresholds = [], []
        for false_positive_rate in self.false_positive_rates:
            k = false_positives_allowed(false_positive_rate, negative_num)
            threshold = float(self.smallest_negatives[k]) if k < negative_num else float("inf")
            below = np.searchsorted(self.sorted_positives, threshold, side="left")
            if k < negative_num:
                threshold = halfway(self.largest_distance_below(threshold), threshold)
            rates.append(float(below / positive_num) if positive_num else float("nan"))
            thresholds.append(threshold)
        pair_num = positive_num * negative_num
        # Pairs (positive, negative) ordered wrongly (the negative closer) count 1, ties 1/2.
        wrong = self.wrong_num + 0.5 * self.tied_num
        roc_auc = 1.0 - wrong / pair_num if pair_num else float("nan")
        return VerificationMetrics(
            false_positive_rates=self.false_positive_rates,
            true_positive_rates=tuple(rates),
            thresholds=tuple(thresholds),
            roc_auc=roc_auc,
            positive_pair_num=positive_num,
            negative_pair_num=negative_num,
        )
