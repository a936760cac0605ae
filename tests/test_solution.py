"""solution.py as users run it: the seed README's commands on a generated Market1501 tree."""

import ast
import glob
import json
import os
import pickle
import re
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from conftest import (
    REPOSITORY,
    SHRUNK,
    TINY_SYNTHETIC,
    evaluate_concurrently,
    quiet_environment,
    run_solution,
    seed_evaluation_command,
    start_python,
    start_solution,
    synthetic_dataset_flags,
)

from datasets import generate_synthetic_dataset


def test_training_writes_results_and_logs_metrics(trained):
    _, output_folder, returncode, output = trained
    assert returncode == 0, output[-3000:]
    assert "1 train images cannot be read and are left out" in output
    assert "1 gallery images cannot be read and are left out" in output
    for name in (
        "flags.txt",
        "log.txt",
        "finished.json",
        "results.csv",
        "results.json",
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
        "test_mAP_fraction",
        "test_rank1_fraction",
        "test_rank20_fraction",
        "test_mINP_fraction",
        "test_re_ranking_mAP_fraction",
        "global_embedding_loss",
        "region2_probability_loss",
    ):
        assert column in history.columns, column
    assert history["test_mAP_fraction"].between(0, 1).all() and history["flipping"].ge(0).all()
    # results.csv: one row per evaluation and kind of distance, the same numbers.
    results = pd.read_csv(os.path.join(output_folder, "results.csv"))
    plain = results[results["distances"] == "plain"]
    assert plain["epoch"].tolist() == [1, 2, 3] and set(results["dataset"]) == {"Market1501"}
    np.testing.assert_allclose(plain["mAP_fraction"], history["test_mAP_fraction"])
    assert len(results[results["distances"] == "re-ranked"]) == 3
    log = open(os.path.join(output_folder, "log.txt")).read()
    assert "Phase: whole model, epochs 2 to 3 of 3" in log
    assert log.count("Epoch 3/3 (whole model): ") == 1
    with open(os.path.join(output_folder, "history.pkl"), "rb") as pickled:
        assert len(pickle.load(pickled)) == 3
    assert "test_re_ranking_mAP" in output and "weights saved to" in output
    assert "Epoch 1/3 (frozen backbone): " in output and "Epoch 3/3 (whole model): " in output
    epoch_lines = [line for line in output.splitlines() if line.startswith("Epoch ")]
    assert len(epoch_lines) == 3 and max(map(len, epoch_lines)) < 120, epoch_lines
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
    assert "Test mAP on Market1501: " in output and "flip-averaged" in output
    # Nothing beside the weights; the numbers are kept in the evaluation's own folder.
    assert not [name for name in os.listdir(output_folder) if "_inference_model" in name]
    evaluation_folder = tmp_path / "evaluation_only" / "Market1501_resnet18"
    results = pd.read_csv(evaluation_folder / "results.csv")
    assert results["dataset"].tolist() == ["Market1501"] and 0 < results["mAP_fraction"][0] < 1
    summary = json.loads((evaluation_folder / "results.json").read_text())
    assert (
        summary["best"]["dataset"] == "Market1501" and summary["best"]["phase"] == "evaluation only"
    )
    assert "Test mAP on Market1501" in (evaluation_folder / "log.txt").read_text()


def test_each_long_wait_is_announced_before_it(trained):
    """Issue 41, finding 18: every evaluation says what it embeds before the seconds of its
    embedding (the table comes after), and each phase says that its first step builds the
    training graph before that step's seconds, in the order the work happens."""
    _, _, returncode, output = trained
    assert returncode == 0, output[-3000:]
    lines = output.splitlines()
    tables = [i for i, line in enumerate(lines) if re.match(r"Evaluation .*: features of ", line)]
    assert len(tables) == 3  # after each of the three epochs
    for index in tables:
        what = lines[index].split(": features of ")[0]
        announced = [i for i, line in enumerate(lines[:index]) if line.startswith(what + ": ")]
        assert announced, f"nothing said before: {lines[index]}"
        assert "embedding " in lines[announced[-1]] and "query and" in lines[announced[-1]]
        assert not any(
            re.match(r"Evaluation .*: features of ", line) for line in lines[announced[-1] : index]
        )
    phases = [i for i, line in enumerate(lines) if line.startswith("Phase: ")]
    graphs = [i for i, line in enumerate(lines) if "building the training step's graph" in line]
    first_steps = [i for i, line in enumerate(lines) if re.match(r"  epoch \d+, step 1/", line)]
    assert len(phases) == len(graphs) == 2 and len(first_steps) == 3
    assert phases[0] < graphs[0] < first_steps[0] < phases[1] < graphs[1] < first_steps[1]
    assert lines[graphs[0]].startswith("  epoch 1:") and lines[graphs[1]].startswith("  epoch 2:")


def test_a_second_run_never_touches_existing_results(trained):
    arguments, output_folder, returncode, _ = trained
    assert returncode == 0
    before = {  # all but the lock, which every start takes
        name: os.path.getmtime(os.path.join(output_folder, name))
        for name in os.listdir(output_folder)
        if name != ".flipreid.lock"
    }
    returncode, output = run_solution(arguments)
    assert returncode != 0
    assert "already holds a finished run; nothing was changed" in output
    assert "--overwrite_output_folder" in output and "Traceback" not in output
    after = {
        name: os.path.getmtime(os.path.join(output_folder, name))
        for name in os.listdir(output_folder)
        if name != ".flipreid.lock"
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
    a_file = tmp_path / "a_file"
    a_file.write_text("a user's notes")
    run_folder_taken = tmp_path / "runs"
    run_folder_taken.mkdir()
    (run_folder_taken / "Market1501_resnet18").write_text("a user's notes")
    cases = {
        "output folder is a file": (
            ["--root_folder_path", market_root, "--output_folder_path", str(a_file)],
            f"The output folder {a_file}/Market1501_resnet18 cannot be made: {a_file} is a file",
        ),
        "run folder is a file": (
            ["--root_folder_path", market_root, "--output_folder_path", str(run_folder_taken)],
            f"{run_folder_taken}/Market1501_resnet18 is a file, not a folder",
        ),
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
    # Failed starts leave no run folder behind (it held only flags.txt, log.txt and the lock).
    for name in ("missing_dataset", "too_few_identities", "unreadable_weights"):
        assert not (tmp_path / name / "Market1501_resnet18").exists(), name
    assert a_file.read_text() == "a user's notes"
    assert (run_folder_taken / "Market1501_resnet18").read_text() == "a user's notes"


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
    with open(os.path.join(output_folder, "log.txt")) as log_file:
        log = log_file.read()
    logged = [line for line in log[: log.index("Output folder:")].splitlines() if line[:2] == "--"]
    assert flag_names(logged) == defined and len(logged) == len(defined)
    # On the console, one line: the flags the command changes.
    (changed_line,) = [line for line in output.splitlines() if "not at their defaults" in line]
    changed = flag_names(word for word in changed_line.split() if word[:2] == "--")
    assert {"root_folder_path", "backbone_model_name", "use_re_ranking"} <= changed
    assert "region_num" not in changed and len(changed) < 25
    assert "--region_num" not in output[: output.index("Output folder:")]
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
        "--image_num_per_identity 1": (
            "--image_num_per_identity must be at least 2; got 1. The batch-hard triplet loss needs"
        ),
        "--learning_rate_mode constant --learning_rate_start -1 --learning_rate_end -1": (
            "--learning_rate_start must be above 0; got -1.0."
        ),
        "--learning_rate_base 0": "--learning_rate_base must be above 0; got 0.0.",
        "--learning_rate_drop_factor 0 --epoch_num 20": (
            "--learning_rate_drop_factor 0 derives the factor from --epoch_num - 2 *"
        ),
        "--dataset_name Market1502": "Unknown dataset_name 'Market1502' in --dataset_name",
        "--testing_dataset_names Synthetic,Duke": "Unknown dataset_name 'Duke' in --testing_",
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


def test_a_weights_file_brings_its_own_architecture(trained, market_root, tmp_path):
    """The evaluation command without the architecture flags: they come from the file (its
    run's flags.txt, or the inference model's .json), and the mAP is the one training logged
    for the weights it kept. A flag that contradicts the file is refused, naming both values."""
    _, output_folder, returncode, _ = trained
    assert returncode == 0
    common = [
        "--dataset_name",
        "Market1501",
        "--root_folder_path",
        market_root,
        "--evaluation_only",
        "--workers",
        "2",
    ]
    results = evaluate_concurrently(
        {
            name: [
                *common,
                "--pretrained_model_file_path",
                os.path.join(output_folder, name),
                "--output_folder_path",
                str(tmp_path / name),
            ]
            for name in ("training_model.h5", "inference_model.h5")
        }
    )
    history = pd.read_csv(os.path.join(output_folder, "history.csv"))
    kept_epoch = history["test_re_ranking_mAP_fraction"].idxmax()  # what training watched
    for name, (output, mean_average_precision) in results.items():
        source = "flags.txt" if name == "training_model.h5" else "inference_model.json"
        assert f"{source}: --backbone_model_name resnet18, --image_height 64" in output, name
        assert mean_average_precision == pytest.approx(
            history["test_mAP_fraction"][kept_epoch], abs=1e-4
        )
    returncode, output = run_solution(
        [
            *common,
            "--pretrained_model_file_path",
            os.path.join(output_folder, "training_model.h5"),
            "--image_height",
            "384",
            "--output_folder_path",
            str(tmp_path / "refused"),
        ]
    )
    assert returncode == 1 and "--image_height: 64 in the file, 384 in the command" in output
    assert "Traceback" not in output and not (tmp_path / "refused").exists()


@pytest.fixture(scope="module")
def cross_domain(market_root, tmp_path_factory):
    """A run trained on the synthetic set and tested on it, on a Market1501 tree generated
    with another seed and on a CSV dataset (without cameras), in one run."""
    root = tmp_path_factory.mktemp("cross_domain")
    synthetic = generate_synthetic_dataset(str(root / "data"), TINY_SYNTHETIC)
    market = os.path.join(market_root, "Market-1501-v15.09.15")
    rows = []
    for split, folder in (
        ("train", "bounding_box_train"),
        ("query", "query"),
        ("gallery", "bounding_box_test"),
    ):
        for name in sorted(os.listdir(os.path.join(market, folder)))[:40]:
            identity = name.split("_")[0]
            if identity not in ("-1", "0000"):
                rows.append((os.path.join(market, folder, name), f"person{identity}", split))
    csv_path = root / "mine.csv"
    pd.DataFrame(rows, columns=["image_file_path", "identity_ID", "split"]).to_csv(
        csv_path, index=False
    )
    testing = f"Synthetic,Market1501@{market_root},{csv_path}"
    arguments = [
        *SHRUNK,
        "--dataset_name",
        "Synthetic",
        "--root_folder_path",
        str(root / "data"),
        *synthetic_dataset_flags()[2:],  # the sizes, without --dataset_name
        "--freeze_backbone_for_N_epochs",
        "1",
        "--epoch_num",
        "1",
        "--steps_per_epoch",
        "2",
        "--evaluate_testing_every_N_epochs",
        "1",
        "--evaluate_testing_before_training",
        "--testing_dataset_names",
        testing,
        "--output_folder_path",
        str(root / "output"),
    ]
    returncode, output = run_solution(arguments)
    return {
        "output": output,
        "returncode": returncode,
        "folder": root / "output" / "Synthetic_resnet18",
        "csv": csv_path,
        "synthetic": synthetic,
    }


def test_a_run_tests_on_several_datasets_each_with_its_own_columns(cross_domain):
    assert cross_domain["returncode"] == 0, cross_domain["output"][-3000:]
    output, folder = cross_domain["output"], cross_domain["folder"]
    for label in ("Synthetic", "Market1501", "mine"):
        assert f"Evaluation epoch 2 on {label}:" in output, label
    assert "Caution: the test images of mine have no cameras" in output
    history = pd.read_csv(folder / "history.csv")
    assert history["epoch"].tolist() == [0, 1, 2]  # the untrained baseline first
    assert history["phase"][0] == "before training"
    for column in ("test_mAP_fraction", "test_Market1501_mAP_fraction", "test_mine_rank1_fraction"):
        assert history[column].between(0, 1).all(), column
    assert len(glob.glob(str(folder / "checkpoints" / "*.index"))) == 1  # the last one kept
    results = pd.read_csv(folder / "results.csv")
    assert sorted(set(results["dataset"])) == ["Market1501", "Synthetic", "mine"]
    assert len(results) == 3 * 3  # three evaluations of three datasets
    summary = json.loads((folder / "results.json").read_text())
    assert summary["watched"] == "test_mAP" and summary["best"]["dataset"] == "Synthetic"
    assert summary["best"]["epoch"] in (1, 2)  # the baseline is no candidate
    # TensorBoard: each dataset's own tags, the baseline at step 0.
    tags = {}
    for file_path in glob.glob(str(folder / "tensorboard" / "events*")):
        for record in tf.data.TFRecordDataset(file_path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                tags.setdefault(value.tag, []).append(event.step)
    assert tags["epoch/test_mAP"] == [0, 1, 2] and tags["epoch/test_Market1501_mAP"] == [0, 1, 2]


def test_evaluation_only_on_other_datasets_keeps_the_weights_folder_as_it_was(
    cross_domain, market_root, tmp_path
):
    assert cross_domain["returncode"] == 0, cross_domain["output"][-3000:]
    folder = cross_domain["folder"]
    before = sorted(os.listdir(folder))
    returncode, output = run_solution(
        [
            "--pretrained_model_file_path",
            str(folder / "training_model.h5"),
            "--evaluation_only",
            "--testing_dataset_names",
            f"Market1501@{market_root},{cross_domain['csv']}",
            "--output_folder_path",
            str(tmp_path),
            "--workers",
            "2",
        ]
    )
    assert returncode == 0, output[-3000:]
    assert sorted(os.listdir(folder)) == before
    assert "Test mAP on Market1501: " in output and "Test mAP on mine: " in output
    evaluation_folder = tmp_path / "Market1501_resnet18"  # --dataset_name's default
    results = pd.read_csv(evaluation_folder / "results.csv")
    assert results["dataset"].tolist() == ["Market1501", "mine"]
    assert results["mAP_fraction"].between(0, 1).all()


def test_a_start_shows_none_of_tensorflows_own_log_lines(tmp_path):
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    help_run = subprocess.run(
        [sys.executable, "solution.py", "--helpshort"],
        cwd=REPOSITORY,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    tiny_run = subprocess.run(
        [
            sys.executable,
            "-u",
            "solution.py",
            *SHRUNK,
            *synthetic_dataset_flags(),
            "--root_folder_path",
            str(tmp_path / "data"),
            "--output_folder_path",
            str(tmp_path / "output"),
        ],
        cwd=REPOSITORY,
        env={**environment, "FLIPREID_CRASH_AT": "train step ends:1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "--dataset_name" in help_run.stdout  # absl exits with 1 after the help
    assert tiny_run.returncode == -signal.SIGKILL, tiny_run.stdout[-3000:]
    for run in (help_run, tiny_run):
        printed = run.stdout + run.stderr
        assert not re.search(r"^[IWEF]\d{4} ", printed, re.MULTILINE), printed[:2000]
        assert "absl::InitializeLog" not in printed and "cuda driver" not in printed
        assert "cuInit" not in printed and "oneDNN custom operations" not in printed
    assert "on the CPU (" in tiny_run.stdout and ", no GPU" in tiny_run.stdout


@pytest.mark.parametrize(
    "entry_point,arguments,status,expected",
    [
        ("solution.py", ["--help"], 0, "--[no]use_horizontal_flipping_inside_model"),
        ("solution.py", ["--helpfull"], 0, "--dataset_name"),
        ("search.py", ["--help"], 0, "inference_model.h5 \\\n        --query_path"),
        ("sweep.py", ["--help"], 0, "resnesta50 \\\n        --grid dataset_name"),
        ("solution.py", ["--backbone_model_name", "resnet5"], 1, "value should be one of"),
        ("solution.py", ["--epoch_nun", "3"], 1, "Unknown command line flag 'epoch_nun'"),
        ("solution.py", ["--image_height", "0"], 1, "Error: --image_height must be at least 1"),
        ("search.py", ["--top_k", "0"], 1, "--top_k=0"),
        ("sweep.py", ["--dry_runn"], 1, "Unknown command line flag 'dry_runn'"),
        ("export.py", ["--help"], 0, "--format onnx --output_path model.onnx"),
        ("export.py", ["--format", "tflite"], 1, "value should be one of"),
    ],
)
def test_help_and_bad_flags_answer_before_tensorflow_is_imported(
    entry_point, arguments, status, expected
):
    """--help exits 0, a misspelt flag or a value that cannot work exits 1, and neither waits
    for TensorFlow: python -X importtime lists every module imported."""
    process = start_python(["-X", "importtime", entry_point, *arguments])
    output, _ = process.communicate(timeout=120)
    assert process.returncode == status, output[-3000:]
    assert expected in output, output[-3000:]
    imported = [
        line.rsplit("|", 1)[-1].strip()
        for line in output.splitlines()
        if line.startswith("import time:")
    ]
    assert "absl.flags" in imported, output[-3000:]
    heavy = [name for name in imported if name.split(".")[0] in ("tensorflow", "keras")]
    assert heavy == []


def test_an_evaluation_killed_before_its_last_file_is_completed_by_the_same_command(
    trained, market_root, tmp_path
):
    """Stopped by Ctrl-C as results.csv is written: one message, and the folder it made gone.
    Killed right after results.csv is in place (before results.json and the finished mark),
    the same --evaluation_only command evaluates again and completes the folder; once finished,
    it refuses as a finished training run does."""
    _, run_folder, returncode, _ = trained
    assert returncode == 0
    arguments = [
        *SHRUNK,
        "--root_folder_path",
        market_root,
        "--evaluation_only",
        "--pretrained_model_file_path",
        os.path.join(run_folder, "inference_model.h5"),
        "--output_folder_path",
        str(tmp_path),
    ]
    evaluation_folder = tmp_path / "Market1501_resnet18"
    interrupted = quiet_environment(FLIPREID_CRASH_AT="writing results.csv:1:SIGINT")
    returncode, output = run_solution(arguments, environment=interrupted)
    assert returncode == 130 and "Traceback" not in output, output[-3000:]
    assert "Stopped by Ctrl-C. Nothing is left half-written" in output
    assert not evaluation_folder.exists()  # made by this start, which wrote nothing else

    killed = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "FLIPREID_CRASH_AT": "wrote results.csv:1"}
    returncode, output = run_solution(arguments, environment=killed)
    assert returncode == -signal.SIGKILL, output[-3000:]
    assert (evaluation_folder / "results.csv").exists()
    assert not (evaluation_folder / "results.json").exists()

    returncode, output = run_solution(arguments)
    assert returncode == 0, output[-3000:]
    assert "holds an unfinished evaluation of these flags: evaluating again" in output
    assert (evaluation_folder / "results.json").exists()
    assert (evaluation_folder / "finished.json").exists()

    returncode, output = run_solution(arguments)
    assert returncode == 1 and "already holds a finished run; nothing was changed" in output


@pytest.mark.parametrize("entry_point", ["solution.py", "search.py", "sweep.py"])
def test_a_python_without_the_projects_packages_is_told_how_to_get_them(entry_point):
    """As in a new shell where .venv is not active: python -S sees no site-packages."""
    process = start_python(["-S", entry_point, "--help"])
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1, output[-2000:]
    assert "does not have absl, numpy" in output and "which this project needs" in output
    assert ".venv/bin/activate" in output and "Traceback" not in output
