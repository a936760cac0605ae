"""Evaluation against plain reference computations written here: per-query loops, NumPy, SciPy."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from evaluation import (
    compute_CMC_mAP,
    compute_distance_matrix,
    compute_ranking_metrics,
    re_ranking,
    re_ranking_from_features,
)
from evaluation.metrics import MetricAccumulator


def reference_market1501(distmat, *, q_pids, g_pids, q_camids, g_camids, max_rank):
    """The protocol as usually written: one query at a time, a full stable sort per query."""
    cmc_rows, average_precisions, inverse_negative_penalties = [], [], []
    for q in range(len(q_pids)):
        order = np.argsort(distmat[q], kind="stable")
        removed = (g_pids[order] == q_pids[q]) & (g_camids[order] == q_camids[q])
        hits = (g_pids[order] == q_pids[q])[~removed].astype(float)
        if hits.sum() == 0:
            continue
        cmc_row = np.zeros(max_rank)
        first = int(np.argmax(hits))
        if first < max_rank:
            cmc_row[first:] = 1
        cmc_rows.append(cmc_row)
        precisions = [hits[: r + 1].sum() / (r + 1) for r in range(len(hits)) if hits[r]]
        average_precisions.append(np.mean(precisions))
        last = np.flatnonzero(hits)[-1]
        inverse_negative_penalties.append(hits.sum() / (last + 1))
    if not cmc_rows:
        return None
    return (
        np.mean(cmc_rows, axis=0),
        np.mean(average_precisions),
        np.mean(inverse_negative_penalties),
        len(cmc_rows),
    )


def random_case(rng, *, query_num, gallery_num, identity_num, camera_num, tie_levels):
    """A random evaluation problem as keyword arguments of the metric functions."""
    q_pids = rng.integers(1, identity_num + 1, query_num)
    g_pids = rng.integers(-1, identity_num + 1, gallery_num)  # includes junk -1, distractor 0
    q_camids = rng.integers(1, camera_num + 1, query_num)
    g_camids = rng.integers(1, camera_num + 1, gallery_num)
    distmat = rng.random((query_num, gallery_num))
    if tie_levels:  # many exact ties
        distmat = np.floor(distmat * tie_levels) / tie_levels
    return dict(distmat=distmat, q_pids=q_pids, g_pids=g_pids, q_camids=q_camids, g_camids=g_camids)


@pytest.mark.parametrize("seed", range(40))
def test_metrics_match_per_query_reference(seed):
    rng = np.random.default_rng(seed)
    case = random_case(
        rng,
        query_num=int(rng.integers(1, 30)),
        gallery_num=int(rng.integers(5, 80)),
        identity_num=int(rng.integers(2, 12)),
        camera_num=int(rng.integers(1, 4)),
        tie_levels=[0, 3, 10][seed % 3],
    )
    case["distmat"] = case["distmat"].astype([np.float64, np.float32][seed % 2])
    max_rank = [1, 5, 20, 100][seed % 4]
    expected = reference_market1501(**case, max_rank=max_rank)
    if expected is None:
        with pytest.raises(ValueError, match="No query has a true match"):
            compute_ranking_metrics(**case, max_rank=max_rank)
        return
    metrics = compute_ranking_metrics(**case, max_rank=max_rank)
    np.testing.assert_allclose(metrics.cmc, expected[0], atol=1e-6)
    assert abs(metrics.mAP - expected[1]) < 1e-6
    assert abs(metrics.mINP - expected[2]) < 1e-6
    assert metrics.valid_query_num == expected[3]
    cmc, mAP = compute_CMC_mAP(**case, max_rank=max_rank)
    assert cmc.shape == (max_rank,) and mAP == metrics.mAP


def test_hand_made_case():
    # Query 1 (camera 1): gallery ranked g2 (id 2), g0 (id 1, camera 1: removed), g1 (id 1, cam 2),
    # g3 (id 1, cam 3). Kept ranking: id2, id1, id1 -> first match rank 2, AP = (1/2 + 2/3) / 2.
    # Query 5 has its only match in its own camera: skipped. Query 9 has no match: skipped.
    distmat = np.array([[0.2, 0.5, 0.1, 0.7], [0.3, 0.3, 0.3, 0.3], [0.9, 0.8, 0.7, 0.6]])
    q_pids, q_camids = np.array([1, 5, 9]), np.array([1, 4, 1])
    g_pids, g_camids = np.array([1, 1, 2, 1]), np.array([1, 2, 3, 3])
    g_pids_with_5 = g_pids.copy()
    g_pids_with_5[2] = 5
    g_camids_with_5 = g_camids.copy()
    g_camids_with_5[2] = 4
    metrics = compute_ranking_metrics(
        distmat,
        q_pids=q_pids,
        g_pids=g_pids_with_5,
        q_camids=q_camids,
        g_camids=g_camids_with_5,
        max_rank=3,
    )
    # With gallery 2 now id 5 in camera 4, query 1 ranks id5, id1, id1 -> the same numbers.
    assert metrics.valid_query_num == 1
    np.testing.assert_allclose(metrics.cmc, [0, 1, 1])
    assert metrics.mAP == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert metrics.mINP == pytest.approx(2 / 3)


def test_ties_follow_gallery_order():
    distmat = np.zeros((1, 4))  # everything tied: the ranking is the gallery order
    metrics = compute_ranking_metrics(
        distmat,
        q_pids=np.array([1]),
        g_pids=np.array([0, 1, 0, 1]),
        q_camids=np.array([1]),
        g_camids=np.array([2, 2, 2, 2]),
        max_rank=4,
    )
    np.testing.assert_allclose(metrics.cmc, [0, 1, 1, 1])
    assert metrics.mAP == pytest.approx((1 / 2 + 2 / 4) / 2)


def test_streaming_accumulator_equals_whole_matrix():
    rng = np.random.default_rng(7)
    case = random_case(
        rng, query_num=50, gallery_num=200, identity_num=8, camera_num=3, tie_levels=0
    )
    accumulator = MetricAccumulator(case["g_pids"], case["g_camids"], 10)
    for start in range(0, 50, 7):
        rows = slice(start, start + 7)
        accumulator.add(case["distmat"][rows], case["q_pids"][rows], case["q_camids"][rows])
    streamed = accumulator.result()
    whole = compute_ranking_metrics(**case, max_rank=10)
    np.testing.assert_array_equal(streamed.cmc, whole.cmc)
    assert streamed.mAP == whole.mAP


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match=r"shape \(2, 3\).*\(2, 4\)"):
        compute_CMC_mAP(
            np.zeros((2, 3)),
            q_pids=np.ones(2),
            g_pids=np.ones(4),
            q_camids=np.ones(2),
            g_camids=np.ones(4),
        )
    with pytest.raises(ValueError, match="NaN"):
        compute_CMC_mAP(
            np.full((1, 2), np.nan),
            q_pids=np.ones(1),
            g_pids=np.ones(2),
            q_camids=np.ones(1),
            g_camids=np.ones(2) * 2,
        )


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_distances_match_scipy_in_chunks(metric):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((37, 16)), rng.standard_normal((53, 16))
    distmat = compute_distance_matrix(a, b, metric)
    assert distmat.dtype == np.float32
    np.testing.assert_allclose(distmat, cdist(a, b, metric), atol=2e-5)
    from evaluation.distances import iterate_distance_chunks

    chunks = list(iterate_distance_chunks(a, b, metric, chunk_bytes=4 * 53 * 5))
    assert len(chunks) == 8  # 5 rows at a time
    # BLAS may round a block differently from the whole matrix in the last bit.
    np.testing.assert_allclose(np.concatenate([block for _, block in chunks]), distmat, atol=1e-6)


def reference_re_ranking(q_g, q_q, g_g, *, k1, k2, lambda_value, dtype=np.float32):
    """The CVPR 2017 steps with Python sets and loops, on dense matrices of dtype."""
    query_num = len(q_q)
    d = np.square(np.block([[q_q, q_g], [q_g.T, g_g]]).astype(dtype))
    d = (d / d.max(axis=0)).T
    count = len(d)
    rank = np.argsort(d, axis=1, kind="stable")

    def reciprocal(i, k):
        return [j for j in rank[i, : k + 1] if i in rank[j, : k + 1]]

    V = np.zeros((count, count), dtype=dtype)
    for i in range(count):
        neighbours = reciprocal(i, k1)
        expanded = set(neighbours)
        for candidate in neighbours:
            candidate_neighbours = reciprocal(candidate, int(round(k1 / 2)))
            if len(set(candidate_neighbours) & set(neighbours)) > 2 / 3 * len(candidate_neighbours):
                expanded |= set(candidate_neighbours)
        members = sorted(expanded)
        weights = np.exp(-d[i, members])
        V[i, members] = weights / weights.sum()
    if k2 != 1:
        V = np.stack([V[rank[i, :k2]].mean(axis=0) for i in range(count)])
    result = np.zeros((query_num, count - query_num))
    for q in range(query_num):
        for g in range(query_num, count):
            m = np.minimum(V[q], V[g]).sum()
            result[q, g - query_num] = (1 - lambda_value) * (1 - m / (2 - m)) + lambda_value * d[
                q, g
            ]
    return result


def clustered_features(rng, count, dimension, cluster_num):
    centers = rng.standard_normal((cluster_num, dimension))
    return centers[rng.integers(0, cluster_num, count)] + 0.6 * rng.standard_normal(
        (count, dimension)
    )


@pytest.mark.parametrize(
    "seed,k1,k2,lambda_value",
    [(0, 20, 6, 0.3), (1, 5, 3, 0.5), (2, 7, 1, 0.0), (3, 4, 2, 1.0), (4, 11, 6, 0.3)],
)
def test_dense_re_ranking_matches_reference(seed, k1, k2, lambda_value):
    rng = np.random.default_rng(seed)
    query_features = clustered_features(rng, 9, 8, 5)
    gallery_features = clustered_features(rng, 40, 8, 5)
    q_g = cdist(query_features, gallery_features, "cosine")
    q_q = cdist(query_features, query_features, "cosine")
    g_g = cdist(gallery_features, gallery_features, "cosine")
    expected = reference_re_ranking(q_g, q_q, g_g, k1=k1, k2=k2, lambda_value=lambda_value)
    result = re_ranking(q_g, q_q, g_g, k1=k1, k2=k2, lambda_value=lambda_value)
    assert result.shape == (9, 40) and result.dtype == np.float32
    np.testing.assert_allclose(result, expected, atol=2e-6)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_re_ranking_from_features_equals_dense(metric):
    rng = np.random.default_rng(5)
    query_features = clustered_features(rng, 30, 16, 12)
    gallery_features = clustered_features(rng, 150, 16, 12)
    q_g = compute_distance_matrix(query_features, gallery_features, metric)
    q_q = compute_distance_matrix(query_features, query_features, metric)
    g_g = compute_distance_matrix(gallery_features, gallery_features, metric)
    dense = re_ranking(q_g, q_q, g_g, k1=20, k2=6, lambda_value=0.3)
    # A small chunk forces many blocks in the neighbour search and the query loop.
    scalable = re_ranking_from_features(
        query_features,
        gallery_features,
        k1=20,
        k2=6,
        lambda_value=0.3,
        metric=metric,
        chunk_bytes=4 * 180 * 8,
    )
    np.testing.assert_allclose(scalable, dense, atol=1e-5)
    reference = reference_re_ranking(q_g, q_q, g_g, k1=20, k2=6, lambda_value=0.3)
    np.testing.assert_allclose(scalable, reference, atol=1e-5)


def twin_features(rng, count, dimension, cluster_num):
    """Features in pairs a float32 distance cannot order: each twin has one coordinate moved
    by one unit in the last place. In every row a twin pair straddles the cut of the k1 + 1 = 21
    nearest (the row itself, its twin, then pairs), and of the round(k1 / 2) + 1 = 11 nearest."""
    base = clustered_features(rng, count, dimension, cluster_num).astype(np.float32)
    twins = base.copy()
    coordinate = rng.integers(0, dimension, count)
    rows = np.arange(count)
    twins[rows, coordinate] = np.nextafter(base[rows, coordinate], np.float32(np.inf))
    return np.stack([base, twins], axis=1).reshape(2 * count, dimension)


def crowd_features(rng, dimension, crowd_num):
    """A point with crowd_num neighbours at one distance but for a last-place nudge each: more
    near-equal candidates than the float32 pass keeps, so the float64 search of whole rows is
    needed; then clustered points around it."""
    center = np.zeros(dimension, dtype=np.float32)
    center[0] = 1
    crowd = np.tile(center, (crowd_num, 1))
    crowd[np.arange(crowd_num), 1 + np.arange(crowd_num)] = 0.5
    nudged = rng.random(crowd_num) < 0.25
    crowd[nudged, 0] = np.nextafter(np.float32(1), np.float32(2))
    others = 0.3 * clustered_features(rng, 60, dimension, 6).astype(np.float32)
    return np.concatenate([center[None], crowd, others])


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("case", ["twins", "crowd"])
def test_re_ranking_orders_near_ties_as_float64_does(metric, case):
    """Neighbours are chosen as an exact float64 computation chooses them, whatever the float32
    matrix product's rounding (which differs between BLAS kernel sets)."""
    rng = np.random.default_rng(7)
    if case == "twins":
        features = twin_features(rng, 110, 64, 10)
    else:
        features = rng.permutation(crowd_features(rng, 128, 100))
    query_features, gallery_features = features[:40], features[40:]
    distances = {  # SciPy's cdist computes in float64
        name: cdist(a.astype(np.float64), b.astype(np.float64), metric)
        for name, (a, b) in dict(
            q_g=(query_features, gallery_features),
            q_q=(query_features, query_features),
            g_g=(gallery_features, gallery_features),
        ).items()
    }
    reference = reference_re_ranking(**distances, k1=20, k2=6, lambda_value=0.3, dtype=np.float64)
    result = re_ranking_from_features(query_features, gallery_features, metric=metric)
    np.testing.assert_allclose(result, reference, atol=1e-5, rtol=0)


def test_re_ranking_improves_retrieval_on_clusters():
    rng = np.random.default_rng(11)
    centers = rng.standard_normal((25, 32))
    q_pids, g_pids = np.repeat(np.arange(25), 2), np.repeat(np.arange(25), 8)
    query_features = centers[q_pids] + 1.1 * rng.standard_normal((50, 32))
    gallery_features = centers[g_pids] + 1.1 * rng.standard_normal((200, 32))
    q_camids, g_camids = np.zeros(50), np.ones(200)
    labels = dict(q_pids=q_pids, g_pids=g_pids, q_camids=q_camids, g_camids=g_camids)
    plain = compute_CMC_mAP(compute_distance_matrix(query_features, gallery_features), **labels)[1]
    re_ranked = compute_CMC_mAP(
        re_ranking_from_features(query_features, gallery_features), **labels
    )[1]
    assert re_ranked > plain + 0.02


def reference_verification(distmat, *, q_pids, g_pids, q_camids, g_camids, rates_as_fractions):
    """Every kept pair listed one by one; thresholds from the sorted negatives (halfway to the
    distance before); the AUC from scikit-learn's roc_auc_score (higher score = more alike, so
    minus the distance)."""
    from sklearn.metrics import roc_auc_score

    positives, negatives = [], []
    for q in range(len(q_pids)):
        for g in range(len(g_pids)):
            if g_pids[g] == q_pids[q] and g_camids[g] == q_camids[q]:
                continue  # left out by the protocol
            (positives if g_pids[g] == q_pids[q] else negatives).append(float(distmat[q, g]))
    negatives_sorted = sorted(negatives)
    rates, thresholds = [], []
    for numerator, denominator in rates_as_fractions:
        allowed = len(negatives) * numerator // denominator  # floor(f N) in integers
        first_rejected = negatives_sorted[allowed]
        rates.append(sum(p < first_rejected for p in positives) / len(positives))
        # Written halfway from the largest distance below it (or as far below it as the next
        # distance is above, 2e-6 without one).
        below = [d for d in positives + negatives if d < first_rejected]
        above = [d for d in positives + negatives if d > first_rejected]
        gap = min(above) - first_rejected if above else 2e-6
        last_accepted = max(below) if below else first_rejected - gap
        thresholds.append((last_accepted + first_rejected) / 2)
    labels = [1] * len(positives) + [0] * len(negatives)
    auc = roc_auc_score(labels, [-d for d in positives + negatives])
    return rates, thresholds, auc, len(positives), len(negatives)


@pytest.mark.parametrize("seed", range(12))
def test_verification_figures_match_the_pairwise_reference(seed, monkeypatch):
    """TPR at each false positive rate, the thresholds and the ROC AUC, fed in blocks of rows
    and in slices small enough that the smallest negatives are reselected many times."""
    from evaluation import verification

    rng = np.random.default_rng(1000 + seed)
    case = random_case(
        rng,
        query_num=int(rng.integers(5, 40)),
        gallery_num=int(rng.integers(30, 400)),
        identity_num=int(rng.integers(2, 12)),
        camera_num=int(rng.integers(2, 4)),
        tie_levels=[0, 7, 50][seed % 3],
    )
    distmat = case.pop("distmat").astype(np.float32)
    expected_rates, expected_thresholds, expected_auc, positive_num, negative_num = (
        reference_verification(distmat, **case, rates_as_fractions=[(1, 10), (1, 100), (1, 1000)])
    )
    assert positive_num > 0 and negative_num > 0  # the draw tests something
    monkeypatch.setattr(verification, "SLICE_ENTRIES", int(rng.integers(1, 3 * distmat.shape[1])))
    accumulator = verification.VerificationAccumulator(
        case["q_pids"], case["g_pids"], case["g_camids"], false_positive_rates=(1e-1, 1e-2, 1e-3)
    )
    block = int(rng.integers(1, len(distmat) + 1))
    starts = range(0, len(distmat), block)
    rows = [
        (distmat[s : s + block], case["q_pids"][s : s + block], case["q_camids"][s : s + block])
        for s in starts
    ]
    for block_rows in rows:
        accumulator.collect(*block_rows)
    accumulator.finish_collecting()
    for block_rows in rows:
        accumulator.count(*block_rows)
    result = accumulator.result()
    assert (result.positive_pair_num, result.negative_pair_num) == (positive_num, negative_num)
    assert list(result.thresholds) == expected_thresholds
    assert list(result.true_positive_rates) == expected_rates
    assert result.roc_auc == pytest.approx(expected_auc, abs=1e-12)


def test_evaluation_of_features_reports_verification_against_float64_pairs():
    """From features: the logs' TPR, thresholds and AUC against pairs scored by SciPy's float64
    cosine distance (clusters far enough apart that float32 rounding changes no comparison)."""
    from evaluation import evaluate_features, metrics_to_logs

    rng = np.random.default_rng(7)
    identity_num, dimension = 30, 64
    centres = rng.normal(size=(identity_num, dimension))
    q_pids = np.repeat(np.arange(1, identity_num + 1), 2)
    g_pids = np.repeat(np.arange(1, identity_num + 1), 6)
    q_camids, g_camids = np.tile([1, 2], identity_num), np.tile([1, 2, 3, 1, 2, 3], identity_num)
    query = centres[q_pids - 1] + 2.0 * rng.normal(size=(len(q_pids), dimension))
    gallery = centres[g_pids - 1] + 2.0 * rng.normal(size=(len(g_pids), dimension))
    distmat = cdist(query, gallery, "cosine")
    expected_rates, expected_thresholds, expected_auc, *_ = reference_verification(
        distmat,
        q_pids=q_pids,
        g_pids=g_pids,
        q_camids=q_camids,
        g_camids=g_camids,
        rates_as_fractions=[(1, 100), (1, 1000), (1, 10000)],
    )
    logs = metrics_to_logs(
        evaluate_features(
            query.astype(np.float32),
            gallery.astype(np.float32),
            q_pids=q_pids,
            g_pids=g_pids,
            q_camids=q_camids,
            g_camids=g_camids,
        )
    )
    assert 0.2 < expected_rates[0] < 1  # a case where the rates are informative
    for name, rate, threshold in zip(
        ("1e-2", "1e-3", "1e-4"), expected_rates, expected_thresholds, strict=True
    ):
        assert logs[f"test_TPR_at_FPR_{name}"] == rate
        assert logs[f"test_threshold_at_FPR_{name}"] == pytest.approx(threshold, abs=1e-6)
    assert logs["test_ROC_AUC"] == pytest.approx(expected_auc, abs=1e-12)


def reference_query_expansion(query, gallery, *, q_pids, g_pids, q_camids, g_camids, k, alpha):
    """alphaQE one query at a time in float64: cosine similarities, the query's kept gallery
    sorted by similarity (ties by position), the weighted sum of the k first, normalised."""
    expanded = []
    for q in range(len(query)):
        unit = query[q] / np.linalg.norm(query[q])
        kept = [
            g
            for g in range(len(gallery))
            if not (g_pids[g] == q_pids[q] and g_camids[g] == q_camids[q])
        ]
        similarity = {g: float(unit @ gallery[g]) / float(np.linalg.norm(gallery[g])) for g in kept}
        chosen = sorted(kept, key=lambda g: (-similarity[g], g))[:k]
        total = unit.copy()
        for g in chosen:
            total += max(similarity[g], 0.0) ** alpha * gallery[g] / np.linalg.norm(gallery[g])
        expanded.append(total / np.linalg.norm(total))
    return np.array(expanded)


@pytest.mark.parametrize("k,alpha", [(1, 0.0), (5, 3.0), (12, 1.0)])
def test_query_expansion_matches_the_per_query_reference(k, alpha):
    from evaluation.query_expansion import expand_queries

    rng = np.random.default_rng(k)
    identity_num, dimension = 25, 32
    centres = rng.normal(size=(identity_num, dimension))
    q_pids = rng.integers(0, identity_num, 40)
    g_pids = rng.integers(0, identity_num, 300)
    q_camids, g_camids = rng.integers(1, 4, 40), rng.integers(1, 4, 300)
    query = centres[q_pids] + rng.normal(size=(40, dimension))
    gallery = centres[g_pids] + rng.normal(size=(300, dimension))
    labels = dict(q_pids=q_pids, g_pids=g_pids, q_camids=q_camids, g_camids=g_camids)
    expected = reference_query_expansion(query, gallery, **labels, k=k, alpha=alpha)
    found = expand_queries(
        query.astype(np.float32),
        gallery.astype(np.float32),
        **labels,
        k=k,
        alpha=alpha,
        chunk_bytes=4 * 300 * 7,  # blocks of 7 queries
    )
    np.testing.assert_allclose(found, expected, atol=2e-6)
    # It changes the queries (the test would pass on an identity function otherwise).
    assert np.abs(found - query / np.linalg.norm(query, axis=1, keepdims=True)).max() > 0.05


def test_query_expansion_rows_with_and_without_re_ranking():
    """evaluate_features' query-expanded rows: the metrics of the reference's expanded queries,
    ranked by cosine distance and (re-ranking being tested above) re-ranked."""
    from evaluation import evaluate_features

    rng = np.random.default_rng(3)
    centres = rng.normal(size=(20, 24))
    q_pids, g_pids = rng.integers(0, 20, 30), rng.integers(0, 20, 200)
    q_camids, g_camids = rng.integers(1, 3, 30), rng.integers(1, 3, 200)
    query = centres[q_pids] + 1.5 * rng.normal(size=(30, 24))
    gallery = centres[g_pids] + 1.5 * rng.normal(size=(200, 24))
    labels = dict(q_pids=q_pids, g_pids=g_pids, q_camids=q_camids, g_camids=g_camids)
    results = evaluate_features(
        query.astype(np.float32),
        gallery.astype(np.float32),
        **labels,
        use_re_ranking=True,
        query_expansion=(4, 2.0),
    )
    assert list(results.ranking) == [
        "plain",
        "re_ranking",
        "query_expansion",
        "query_expansion_re_ranking",
    ]
    expanded = reference_query_expansion(query, gallery, **labels, k=4, alpha=2.0)
    _, mAP, _, _ = reference_market1501(cdist(expanded, gallery, "cosine"), **labels, max_rank=20)
    assert results.ranking["query_expansion"].mAP == pytest.approx(mAP, abs=1e-9)
    re_ranked = re_ranking_from_features(expanded.astype(np.float32), gallery.astype(np.float32))
    _, mAP, _, _ = reference_market1501(re_ranked, **labels, max_rank=20)
    assert results.ranking["query_expansion_re_ranking"].mAP == pytest.approx(mAP, abs=1e-6)
    assert results.ranking["query_expansion"].mAP != results.ranking["plain"].mAP


def reference_top_lists(distmat, *, q_pids, g_pids, q_camids, g_camids, top_k):
    """Each query's top_k as (distance, same identity), the protocol's removal applied, sorted
    by (distance, gallery position) with Python's sort."""
    lists = []
    for q in range(len(q_pids)):
        kept = [
            (float(distmat[q, g]), g)
            for g in range(len(g_pids))
            if not (g_pids[g] == q_pids[q] and g_camids[g] == q_camids[q])
        ]
        lists.append([(d, bool(g_pids[g] == q_pids[q])) for d, g in sorted(kept)[:top_k]])
    return lists


def reference_mark(lists, target):
    """The largest threshold, among every listed distance and infinity, whose marked entries
    (distance below it) are at least `target` the same identity; None when no threshold
    marking something reaches it."""
    entries = [entry for top in lists for entry in top]
    best = None
    for candidate in sorted({d for d, _ in entries} | {float("inf")}):
        marked = [same for d, same in entries if d < candidate]
        if marked and sum(marked) / len(marked) >= target:
            best = candidate
    return best


@pytest.mark.parametrize("seed", range(12))
def test_ranked_list_mark_matches_the_per_list_reference(seed):
    """The threshold chosen for a precision on the top-k lists, and the marked and right
    entries at each rank, against lists built one query at a time (ties at 0/7/50 levels,
    blocks of rows, short galleries)."""
    from evaluation import top_of_list

    rng = np.random.default_rng(2000 + seed)
    case = random_case(
        rng,
        query_num=int(rng.integers(5, 40)),
        gallery_num=int(rng.integers(8, 200)),
        identity_num=int(rng.integers(2, 10)),
        camera_num=int(rng.integers(2, 4)),
        tie_levels=[0, 7, 50][seed % 3],
    )
    # Matches closer on the whole, so that the top of the lists mixes right and wrong.
    same = case["q_pids"][:, None] == case["g_pids"][None, :]
    case["distmat"] = (case["distmat"] + 0.6 * ~same).astype(np.float32)
    distmat = case.pop("distmat")
    top_k = [10, 3, 25][seed % 3]
    target = [0.95, 0.8, 0.5, 1.0][seed % 4]
    lists = reference_top_lists(distmat, **case, top_k=top_k)
    expected_threshold = reference_mark(lists, target)

    accumulator = top_of_list.TopOfListAccumulator(case["g_pids"], case["g_camids"], top_k)
    block = int(rng.integers(1, len(distmat) + 1))
    for s in range(0, len(distmat), block):
        accumulator.add(
            distmat[s : s + block], case["q_pids"][s : s + block], case["q_camids"][s : s + block]
        )
    result = accumulator.result(target, {"other": 0.7})

    def counts(threshold):
        marked = [
            sum(1 for top in lists if r < len(top) and top[r][0] < threshold) for r in range(top_k)
        ]
        right = [
            sum(1 for top in lists if r < len(top) and top[r][0] < threshold and top[r][1])
            for r in range(top_k)
        ]
        return tuple(marked), tuple(right)

    found = result.calibrated
    if expected_threshold is None:
        assert sum(found.marked_at_ranks) == 0
    else:
        assert counts(found.threshold) == counts(expected_threshold)
        if expected_threshold != float("inf"):  # halfway from the last marked distance to it
            below = max(d for top in lists for d, _ in top if d < expected_threshold)
            assert found.threshold == (below + expected_threshold) / 2
        assert found.precision >= target
        assert sum(found.marked_at_ranks) > 0
    assert (found.marked_at_ranks, found.correct_at_ranks) == counts(found.threshold)
    other = result.others["other"]
    assert (other.marked_at_ranks, other.correct_at_ranks) == counts(0.7)
    assert result.list_num == len(distmat)


def test_ranked_list_mark_never_cuts_between_equal_distances():
    """One list: 0.1 another person, then three at 0.2 (two right, one wrong). Marking the two
    right ones alone is impossible (a threshold marks all three 0.2s or none), and marking the
    first alone is 0% right: no threshold reaches 60%, so nothing is marked."""
    from evaluation.top_of_list import threshold_at_precision

    distances = np.array([[0.1, 0.2, 0.2, 0.2]])
    correct = np.array([[False, True, True, False]])
    threshold = threshold_at_precision(distances, correct, 0.6)
    assert not (distances < threshold).any()
    # Without the wrong first entry, the list up to 0.2 is 67% right: everything is marked.
    threshold = threshold_at_precision(distances[:, 1:], correct[:, 1:], 0.6)
    assert (distances[:, 1:] < threshold).all()
