"""solution.py as users run it: the seed README's commands on a generated Market1501 tree."""

import ast
import os
import pickle

import numpy as np
import pandas as pd
from conftest import (
    REPOSITORY,
    SHRUNK,
    evaluate_concurrently,
    run_solution,
    seed_evaluation_command,
    start_solution,
)


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
    returncode, output = run_solution(
        [
            *seed_evaluation_command(
                weights_file_path=weights,
                output_folder_path=str(tmp_path / "evaluation_only"),
                every_N_epochs="7",
            ),
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
    returncode, output = run_solution(arguments)
    assert returncode != 0
    assert "already holds a finished run; nothing was changed" in output
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
    returncode, output = run_solution(
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
            "flag --backbone_model_name=resnet5: value should be one of <resnet18|",
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
            "is not a readable HDF5 weights file",
        ),
    }
    processes = {}
    for name, (arguments, _) in cases.items():
        base = [*SHRUNK, "--output_folder_path", str(tmp_path / name.replace(" ", "_"))]
        processes[name] = start_solution([*base, *arguments])
    for name, process in processes.items():
        output, _ = process.communicate(timeout=600)
        assert process.returncode != 0, name
        assert cases[name][1] in output, (name, output[-2000:])
        assert "Traceback" not in output, (name, output[-2000:])
    # A run stopped by a bad flag left only flags.txt: repeating it is not refused as a rerun.
    returncode, output = run_solution(
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


def flags_defined_in_solution() -> set[str]:
    """Names of the flags solution.py defines, read from its source (flags.DEFINE_*("name"))."""
    with open(os.path.join(REPOSITORY, "solution.py")) as source:
        tree = ast.parse(source.read())
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr.startswith("DEFINE_")
    }


def flag_names(lines: list[str]) -> set[str]:
    names = set()
    for line in lines:
        name = line.removeprefix("--").split("=")[0]
        if "=" not in line and name.startswith("no"):  # --noflag: a false boolean
            name = name[2:] if name[2:] in flags_defined_in_solution() else name
        names.add(name)
    return names


def test_only_this_programs_flags_are_printed_and_saved(trained):
    _, output_folder, returncode, output = trained
    assert returncode == 0
    defined = flags_defined_in_solution()
    assert len(defined) > 40 and "steps_per_epoch" in defined
    with open(os.path.join(output_folder, "flags.txt")) as flags_file:
        saved = [line for line in flags_file.read().splitlines() if line]
    assert flag_names(saved) == defined and len(saved) == len(defined)
    printed = output[: output.index("Output folder:")].split()
    printed = [word for word in printed if word.startswith("--")]
    assert flag_names(printed) == defined and len(printed) == len(defined)
    assert "--hbm_oom_exit" not in output


def test_values_that_cannot_work_stop_before_anything_is_loaded(tmp_path):
    """Each ends with one clear line naming the flag; the dataset is never looked at (it is
    missing here, which would give another message) and no output folder is made."""
    cases = {
        "--steps_per_epoch 0": "--steps_per_epoch must be at least 1; got 0.",
        "--identity_num_per_batch -3": "--identity_num_per_batch must be at least 1; got -3.",
        "--image_height 8 --image_width 8 --region_num 4": (
            "--image_height 8 gives a last feature map 1 row(s) high"
        ),
        "--testing_size 2.5": "--testing_size must be 0 (no testing), a fraction in (0, 1], or",
        "--synthetic_camera_num 1": "--synthetic_camera_num must be between 2 and 9",
        "--learning_rate_mode cosine --learning_rate_start 1e-4 --learning_rate_end 1e-3": (
            "learning_rate_mode cosine needs learning_rate_start > learning_rate_end"
        ),
        "--random_erasing_probability 1.5": "--random_erasing_probability must be a probability",
        "--logical_cpu_device_num 3 --identity_num_per_batch 4": (
            "--identity_num_per_batch 4 does not divide among the 3 replicas (devices)"
        ),
    }
    output_root = tmp_path / "output"
    processes = {
        case: start_solution(
            [
                "--dataset_name",
                "Synthetic",
                "--root_folder_path",
                str(tmp_path / "missing"),
                "--output_folder_path",
                str(output_root),
                *case.split(),
            ]
        )
        for case in cases
    }
    for case, process in processes.items():
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 1, (case, output[-2000:])
        assert "Error: " + cases[case] in output, (case, output[-2000:])
        assert "Traceback" not in output, (case, output[-2000:])
    assert not output_root.exists() and not (tmp_path / "missing").exists()


def test_a_float32_model_evaluated_in_bfloat16_keeps_its_map(trained, market_root, tmp_path):
    _, output_folder, returncode, _ = trained
    assert returncode == 0
    evaluation_only = [
        *SHRUNK,
        "--dataset_name",
        "Market1501",
        "--root_folder_path",
        market_root,
        "--evaluation_only",
        "--pretrained_model_file_path",
        os.path.join(output_folder, "training_model.h5"),
        "--use_horizontal_flipping_inside_model",
        "--use_horizontal_flipping_in_evaluation",
    ]
    results = evaluate_concurrently(
        {
            precision: [
                *evaluation_only,
                "--mixed_precision",
                precision,
                "--output_folder_path",
                str(tmp_path / precision),
            ]
            for precision in ("float32", "bfloat16")
        }
    )
    assert "precision policy float32" in results["float32"][0]
    assert "precision policy mixed_bfloat16" in results["bfloat16"][0]
    mean_average_precisions = {precision: result[1] for precision, result in results.items()}
    assert 0 < mean_average_precisions["float32"] < 1
    assert abs(mean_average_precisions["bfloat16"] - mean_average_precisions["float32"]) <= 0.01
