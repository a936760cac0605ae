"""Rank-1 and mAP of a search, over the queries whose identity and camera are known, as the
evaluation computes them."""

import numpy as np

import evaluation

from .images import Images


def search_accuracy(
    queries: Images, gallery: Images, distances: np.ndarray, *, exclude_same_camera: bool
) -> str:
    """ "Rank-1 ... mAP ..." over the queries whose identity (and camera, for the protocol's
    same-camera rule) is known, as the evaluation computes them; "" when none is."""
    known = [
        index
        for index, (identity, camera) in enumerate(
            zip(queries.identity_IDs, queries.camera_IDs, strict=True)
        )
        if identity is not None and camera is not None
    ]
    gallery_known = [
        index
        for index, (identity, camera) in enumerate(
            zip(gallery.identity_IDs, gallery.camera_IDs, strict=True)
        )
        if identity is not None and camera is not None
    ]
    if not known or not gallery_known:
        return ""
    gallery_cameras = np.array([gallery.camera_IDs[i] for i in gallery_known])
    if not exclude_same_camera:  # then no image is left out for sharing the query's camera
        gallery_cameras = -1 - np.arange(len(gallery_cameras))
    metrics = evaluation.compute_ranking_metrics(
        distances[np.ix_(known, gallery_known)],
        q_pids=np.array([queries.identity_IDs[i] for i in known]),
        g_pids=np.array([gallery.identity_IDs[i] for i in gallery_known]),
        q_camids=np.array([queries.camera_IDs[i] for i in known]),
        g_camids=gallery_cameras,
    )
    if metrics.valid_query_num == 0:
        return ""
    return (
        f"Search accuracy over the {metrics.valid_query_num} queries with a known identity and "
        f"a true match: rank-1 {100 * metrics.cmc[0]:.1f}%, mAP {100 * metrics.mAP:.1f}%."
    )
