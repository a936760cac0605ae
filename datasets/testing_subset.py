"""`testing_size`: evaluate on a subset of the test identities (docs/method.md)."""

import numpy as np
import pandas as pd

from settings import check_testing_size

DISTRACTOR_IDENTITY_ID = 0


def select_testing_subset(
    query_df: pd.DataFrame, gallery_df: pd.DataFrame, testing_size: float, *, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep a grouped-by-identity subset of the query and gallery images.

    Args:
        testing_size: 1 keeps everything; in (0, 1) the fraction of identities to keep; above 1
            a whole number of identities; 0 keeps nothing (testing disabled).
        seed: the same seed gives the same identities.
    Returns:
        (query_df, gallery_df) holding all images of the chosen identities. The identities are
        drawn from those of query and gallery together; distractor images (identity 0) are not
        one identity but clutter, so the same fraction of them is kept (of a video dataset's
        frames, the same fraction of the distractor tracklets, each whole).
    """
    check_testing_size(testing_size)
    if testing_size == 1:
        return query_df, gallery_df
    identity_IDs = np.union1d(query_df["identity_ID"], gallery_df["identity_ID"])
    identity_IDs = identity_IDs[identity_IDs != DISTRACTOR_IDENTITY_ID]
    if testing_size < 1:
        kept_identity_num = int(round(testing_size * len(identity_IDs)))
        distractor_fraction = testing_size
    else:
        kept_identity_num = min(int(testing_size), len(identity_IDs))
        distractor_fraction = kept_identity_num / max(1, len(identity_IDs))
    rng = np.random.default_rng(seed)
    kept_identity_IDs = rng.choice(identity_IDs, size=kept_identity_num, replace=False)
    is_distractor = gallery_df["identity_ID"].to_numpy() == DISTRACTOR_IDENTITY_ID
    keep_distractor = rng.random(len(gallery_df)) < distractor_fraction
    if "tracklet_ID" in gallery_df.columns:  # video: a distractor tracklet is kept whole or not
        tracklet_IDs = gallery_df["tracklet_ID"].to_numpy()
        unique_IDs, first_rows = np.unique(tracklet_IDs, return_index=True)
        kept_IDs = unique_IDs[keep_distractor[first_rows]]
        keep_distractor = np.isin(tracklet_IDs, kept_IDs)
    kept_query_df = query_df[query_df["identity_ID"].isin(kept_identity_IDs)]
    kept_gallery_df = gallery_df[
        gallery_df["identity_ID"].isin(kept_identity_IDs) | (is_distractor & keep_distractor)
    ]
    return kept_query_df.reset_index(drop=True), kept_gallery_df.reset_index(drop=True)
