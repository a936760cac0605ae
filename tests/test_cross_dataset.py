"""Datasets papers compare on, end to end: a run trains on CUHK03-NP (labeled) and one
--evaluation_only command tests its weights on CUHK03-NP (detected), MSMT17 version 1 and
Market1501, with query expansion, on generated copies of the real layouts."""

import os

import numpy as np
import pandas as pd
from conftest import SHRUNK, SMALL_MARKET, run_solution
from layout_copies import write_cuhk03_np, write_msmt17
from scipy.spatial.distance import cdist
from test_evaluation import reference_market1501, reference_query_expansion

from datasets.synthetic import generate_synthetic_dataset


def test_train_on_cuhk03_np_then_evaluate_on_three_other_layouts(tmp_path):
    root = generate_synthetic_dataset(str(tmp_path / "data"), SMALL_MARKET)
    market = os.path.join(root, "Market-1501-v15.09.15")
    write_cuhk03_np(root, market, "labeled")
    write_cuhk03_np(root, market, "detected")
    write_msmt17(root, market, version=1)
    returncode, output = run_solution(
        [
            *SHRUNK,
            "--dataset_name",
            "CUHK03_NP_labeled",
            "--root_folder_path",
            root,
            "--output_folder_path",
            str(tmp_path / "training"),
            "--freeze_backbone_for_N_epochs",
            "1",
            "--epoch_num",
            "2",
            "--steps_per_epoch",
            "2",
            "--evaluate_testing_every_N_epochs",
            "1",
        ]
    )
    assert returncode == 0, output[-3000:]
    assert "CUHK03_NP_labeled train: found" in output  # the official counts are checked
    weights = tmp_path / "training" / "CUHK03_NP_labeled_resnet18" / "training_model.h5"
    returncode, output = run_solution(
        [
            *SHRUNK,
            "--root_folder_path",
            root,
            "--evaluation_only",
            "--pretrained_model_file_path",
            str(weights),
            "--testing_dataset_names",
            "CUHK03_NP_detected,MSMT17_V1,Market1501",
            "--use_query_expansion",
            "--save_data_to_disk",
            "--output_folder_path",
            str(tmp_path / "evaluation"),
        ]
    )
    assert returncode == 0, output[-3000:]
    (folder,) = (tmp_path / "evaluation").iterdir()
    results = pd.read_csv(folder / "results.csv")
    assert sorted(results[["dataset", "distances"]].values.tolist()) == sorted(
        [dataset, kind]
        for dataset in ("CUHK03_NP_detected", "MSMT17_V1", "Market1501")
        for kind in ("plain", "query-expanded")
    )
    for dataset in ("CUHK03_NP_detected", "MSMT17_V1", "Market1501"):
        assert f"Test mAP on {dataset}: " in output
        assert f"Test mAP on {dataset}, query-expanded: " in output

    # The query-expanded row against the per-query references, from the saved features.
    (features_file,) = [  # the watched dataset's file has no dataset in its name
        path
        for path in folder.glob("features_*.npz")
        if "Market-1501" in str(np.load(path)["query_image_file_paths"][0])
    ]
    with np.load(features_file) as saved:
        labels = dict(
            q_pids=saved["query_identity_IDs"],
            g_pids=saved["gallery_identity_IDs"],
            q_camids=saved["query_camera_IDs"],
            g_camids=saved["gallery_camera_IDs"],
        )
        query = saved["query_features"].astype(np.float64)
        gallery = saved["gallery_features"].astype(np.float64)
    expanded = reference_query_expansion(query, gallery, **labels, k=5, alpha=3.0)
    _, mAP, _, _ = reference_market1501(cdist(expanded, gallery, "cosine"), **labels, max_rank=20)
    row = results[(results["dataset"] == "Market1501") & (results["distances"] == "query-expanded")]
    assert abs(row["mAP_fraction"].iloc[0] - mAP) < 1e-6
