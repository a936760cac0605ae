"""solution.py as users run it: the seed README's commands on a generated Market1501 tree."""

import os
import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from datasets import generate_synthetic_dataset

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHRUNK = [
    "--backbone_model_name",
    "resnet18",
    "--nouse_pretrained_backbone",
    "--image_height",
    "64",
    "--image_width",
    "32",
    "--identity_num_per_batch",
    "4",
    "--image_num_per_identity",
    "2",
    "--workers",
    "2",
]
SEED_TRAINING = [
    "--dataset_name",
    "Market1501",
    "--use_horizontal_flipping_inside_model",
    "--nouse_horizontal_flipping_in_evaluation",
    "--steps_per_epoch",
    "2",
    "--epoch_num",
    "2",
]


def start(arguments):
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen(
        [sys.executable, "-u", "solution.py", *arguments],
        cwd=REPOSITORY,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def run(arguments, timeout=900):
    process = start(arguments)
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


@pytest.fixture(scope="module")
def market_root(tmp_path_factory):
    """A small Market1501 tree (generated), with one unreadable training and gallery image."""
    root = generate_synthetic_dataset(
        str(tmp_path_factory.mktemp("data")),
        train_identity_num=12,
        test_identity_num=10,
        camera_num=4,
        image_height=64,
        image_width=32,
        seed=0,
    )
    for split in ("bounding_box_train", "bounding_box_test"):
        folder = os.path.join(root, "Market-1501-v15.09.15", split)
        victim = sorted(name for name in os.listdir(folder) if not name.startswith("-1"))[3]
        with open(os.path.join(folder, victim), "wb") as damaged:
            damaged.write(b"\xff\xd8 not really a jpeg")
    return root


@pytest.fixture(scope="module")
def trained(market_root, tmp_path_factory):
    output_root = str(tmp_path_factory.mktemp("output"))
    arguments = [
        *SEED_TRAINING,
        *SHRUNK,
        "--root_folder_path",
        market_root,
        "--output_folder_path",
        output_root,
        "--freeze_backbone_for_N_epochs",
        "1",
        "--evaluate_testing_every_N_epochs",
        "1",
        "--use_re_ranking",
        "--save_data_to_disk",
    ]
    returncode, output = run(arguments)
    return arguments, os.path.join(output_root, "Market1501_resnet18"), returncode, output


def test_training_writes_results_and_logs_metrics(trained):
    _, output_folder, returncode, output = trained
    assert returncode == 0, output[-3000:]
    assert "1 train images cannot be read and are left out" in output
    assert "1 gallery images cannot be read and are left out" in output
    for name in (
        "flags.txt",
        "history.csv",
        "history.pkl",
        "training_model.h5",
        "inference_model.h5",
        "inference_model.json",
        "features_epoch_3.npz",
        os.path.join("plots", "test_mAP.png"),
        os.path.join("plots", "flipping.png"),
    ):
        assert os.path.isfile(os.path.join(output_folder, name)), name
    assert not [name for name in os.listdir(output_folder) if name.endswith(".tmp")]
    history = pd.read_csv(os.path.join(output_folder, "history.csv"))
    assert history["epoch"].tolist() == [1, 2, 3]
    assert history["phase"].tolist() == ["frozen backbone", "whole model", "whole model"]
    for column in (
        "loss",
        "flipping",
        "learning_rate",
        "global_pooling_power",
        "test_mAP",
        "test_rank1",
        "test_rank20",
        "test_mINP",
        "test_re_ranking_mAP",
        "global_embedding_loss",
        "region2_probability_loss",
    ):
        assert column in history.columns, column
    assert history["test_mAP"].between(0, 1).all() and history["flipping"].ge(0).all()
    with open(os.path.join(output_folder, "history.pkl"), "rb") as pickled:
        assert len(pickle.load(pickled)) == 3
    assert "test_re_ranking_mAP" in output and "weights saved to" in output
    assert "Epoch 1/1 (frozen backbone" in output and "Epoch 2/2 (whole model" in output
    features = np.load(os.path.join(output_folder, "features_epoch_3.npz"))
    assert features["query_features"].shape[1] == 512 + 256 + 256
    assert len(features["gallery_features"]) == len(features["gallery_identity_IDs"])
    assert (features["gallery_identity_IDs"] != -1).all()


def test_seed_evaluation_command_prints_map_whatever_the_evaluation_period(
    trained, market_root, tmp_path
):
    _, output_folder, returncode, _ = trained
    assert returncode == 0
    weights = os.path.join(output_folder, "training_model.h5")
    returncode, output = run(
        [
            "--dataset_name",
            "Market1501",
            "--pretrained_model_file_path",
            weights,
            "--use_horizontal_flipping_inside_model",
            "--use_horizontal_flipping_in_evaluation",
            "--output_folder_path",
            str(tmp_path / "evaluation_only"),
            "--evaluation_only",
            "--freeze_backbone_for_N_epochs",
            "0",
            "--testing_size",
            "1.0",
            "--evaluate_testing_every_N_epochs",
            "7",
            *SHRUNK,
            "--root_folder_path",
            market_root,
        ]
    )
    assert returncode == 0, output[-3000:]
    assert "Test mAP (test_mAP): 0." in output and "flip-averaged" in output
    assert os.path.isfile(os.path.join(output_folder, "training_model_inference_model.h5"))
    assert os.path.isfile(os.path.join(output_folder, "training_model_inference_model.json"))


def test_a_second_run_never_touches_existing_results(trained):
    arguments, output_folder, returncode, _ = trained
    assert returncode == 0
    before = {
        name: os.path.getmtime(os.path.join(output_folder, name))
        for name in os.listdir(output_folder)
    }
    returncode, output = run(arguments)
    assert returncode != 0
    assert "already holds results; nothing was changed" in output
    assert "--overwrite_output_folder" in output and "Traceback" not in output
    after = {
        name: os.path.getmtime(os.path.join(output_folder, name))
        for name in os.listdir(output_folder)
    }
    assert after == before


def test_saved_flags_file_reproduces_the_run(trained, tmp_path):
    _, output_folder, returncode, _ = trained
    assert returncode == 0
    flags_text = open(os.path.join(output_folder, "flags.txt")).read()
    assert "--use_horizontal_flipping_inside_model" in flags_text
    assert "--steps_per_epoch=2" in flags_text and "--use_re_ranking" in flags_text
    # The file parses as a --flagfile: the run gets as far as the (here missing) dataset.
    returncode, output = run(
        [
            "--flagfile",
            os.path.join(output_folder, "flags.txt"),
            "--root_folder_path",
            str(tmp_path / "moved"),
            "--output_folder_path",
            str(tmp_path / "rerun"),
        ]
    )
    assert returncode != 0 and "steps_per_epoch=2" in output and str(tmp_path / "moved") in output


def test_bad_input_gives_clear_errors(market_root, tmp_path):
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"not weights")
    cases = {
        "missing dataset": (["--root_folder_path", str(tmp_path / "none")], "expected the folder"),
        "unknown dataset": (
            ["--root_folder_path", market_root, "--dataset_name", "Market1502"],
            "Unknown dataset_name 'Market1502'",
        ),
        "unknown backbone": (
            ["--root_folder_path", market_root, "--backbone_model_name", "resnet5"],
            "Unknown backbone_model_name 'resnet5'",
        ),
        "too few identities": (
            ["--root_folder_path", market_root, "--identity_num_per_batch", "50"],
            "A batch needs 50 identities",
        ),
        "unknown pooling mode": (
            ["--root_folder_path", market_root, "--pooling_mode", "Mean"],
            "value should be one of <GeM|Average|Max>",
        ),
        "unreadable weights": (
            [
                "--root_folder_path",
                market_root,
                "--evaluation_only",
                "--pretrained_model_file_path",
                str(garbage),
            ],
            "Cannot load model weights from",
        ),
    }
    processes = {}
    for name, (arguments, _) in cases.items():
        base = [*SHRUNK, "--output_folder_path", str(tmp_path / name.replace(" ", "_"))]
        processes[name] = start([*base, *arguments])
    for name, process in processes.items():
        output, _ = process.communicate(timeout=600)
        assert process.returncode != 0, name
        assert cases[name][1] in output, (name, output[-2000:])
        assert "Traceback" not in output, (name, output[-2000:])
    # A run stopped by a bad flag left only flags.txt: repeating it is not refused as a rerun.
    returncode, output = run(
        [
            *SHRUNK,
            "--output_folder_path",
            str(tmp_path / "missing_dataset"),
            "--root_folder_path",
            str(tmp_path / "none"),
        ]
    )
    assert returncode != 0 and "expected the folder" in output
    assert "already holds results" not in output
