"""sweep.py: a grid of flag values as separate runs, skipped when finished, failures reported,
and one table that compares runs (this project's and the 2021 release's)."""

import json
import os
import pickle
import signal
import time

import pandas as pd
import pytest
from conftest import (
    SHRUNK,
    TINY_SYNTHETIC,
    quiet_environment,
    start_python,
    synthetic_dataset_flags,
)

from datasets import generate_synthetic_dataset
from sweeps.runner import last_error_line

TINY_RUN = [
    *SHRUNK,
    *synthetic_dataset_flags(),
    "--freeze_backbone_for_N_epochs",
    "0",  # one phase: one trace of the training step per run
    "--epoch_num",
    "2",
    "--evaluate_testing_every_N_epochs",
    "1",
]


def run_sweep(arguments, timeout=900):
    process = start_python(["-u", "sweep.py", *arguments])
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("data"))
    generate_synthetic_dataset(root, TINY_SYNTHETIC)
    return root


def test_a_sweep_runs_each_combination_once_reports_failures_and_compares_them(data_root, tmp_path):
    """Four combinations: two train, two have a value that cannot work (0 steps) and fail
    with their message while the others finish; the same command again trains nothing."""
    sweep = [
        *TINY_RUN,
        "--root_folder_path",
        data_root,
        "--grid",
        "use_horizontal_flipping_inside_model=true,false",
        "--grid",
        "steps_per_epoch=2,0",
        "--sweep_folder_path",
        str(tmp_path),
    ]
    returncode, output = run_sweep(sweep)
    assert returncode == 1, output[-3000:]  # a run failed
    finished = [
        f"use_horizontal_flipping_inside_model-{value}__steps_per_epoch-2"
        for value in ("true", "false")
    ]
    failed = [name.replace("steps_per_epoch-2", "steps_per_epoch-0") for name in finished]
    assert output.index("Sweep of 4 runs") < output.index(f"{finished[0]}: started")
    summary = pd.read_csv(tmp_path / "sweep_summary.csv").set_index("run")
    assert sorted(summary.index) == sorted(finished + failed)
    assert summary.loc[finished, "use_horizontal_flipping_inside_model"].tolist() == [True, False]
    for name in finished:
        assert summary.loc[name, "status"] == "finished"
        history = pd.read_csv(tmp_path / name / "Synthetic_resnet18" / "history.csv")
        assert summary.loc[name, "best_test_mAP_fraction"] == pytest.approx(
            history["test_mAP_fraction"].max()
        )
        assert summary.loc[name, "training_hours"] > 0
        flags_text = (tmp_path / name / "Synthetic_resnet18" / "flags.txt").read_text()
        flipping = "--use" if "-true" in name else "--nouse"
        assert f"{flipping}_horizontal_flipping_inside_model\n" in flags_text
    for name in failed:
        assert summary.loc[name, "status"] == "failed"
        assert "--steps_per_epoch must be at least 1; got 0." in summary.loc[name, "error"]
        assert f"{name}: failed" in output
    assert (tmp_path / "sweep_test_mAP.png").stat().st_size > 1000
    assert "| run | use_horizontal_flipping_inside_model | steps_per_epoch | status |" in output

    returncode, output = run_sweep(sweep)  # the same command again: nothing trains
    assert returncode == 1, output[-3000:]
    assert output.count("finished, skipped") == 2 and "Traceback" not in output
    assert all(f"{name}: started" not in output for name in finished)
    assert "Epoch 1/" not in "".join(
        (tmp_path / "logs" / f"{name}.log").read_text() for name in failed
    )
    again = pd.read_csv(tmp_path / "sweep_summary.csv").set_index("run")
    assert again.loc[finished, "best_test_mAP_fraction"].tolist() == pytest.approx(
        summary.loc[finished, "best_test_mAP_fraction"].tolist()
    )


def test_bad_grids_are_explained(tmp_path):
    cases = {
        "--grid backbone=resnet50": "solution.py has no flag --backbone",
        "--grid preset=resnet51": "unknown presets ['resnet51']",
        "--grid use_re_ranking=maybe": "['maybe'] are not true or false",
        "--grid seed=1,2 --seed 3": "--seed given both as a common flag and in the grid",
    }
    processes = {
        case: start_python(["-u", "sweep.py", *case.split(), "--sweep_folder_path", str(tmp_path)])
        for case in cases
    }
    for case, process in processes.items():
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 1, (case, output[-2000:])
        assert cases[case] in output and "Traceback" not in output, (case, output[-2000:])


def test_existing_run_folders_are_summarized_whoever_made_them(tmp_path):
    ours = tmp_path / "output" / "Market1501_resnet50"
    ours.mkdir(parents=True)
    (ours / "flags.txt").write_text("--seed=0\n")
    pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "test_mAP": [0.5, 0.7, 0.6],
            "test_rank1": [0.6, 0.8, 0.7],
            "epoch_seconds": [3600.0, 3600.0, 1800.0],
        }
    ).to_csv(ours / "history.csv", index=False)
    (ours / "inference_model.h5").write_bytes(b"")
    release = tmp_path / "release" / "Market1501_resnesta50"  # the 2021 release's layout
    for phase, maps in (("training_A", {0: 0.3}), ("training_B", {0: 0.6, 9: 0.9})):
        (release / phase).mkdir(parents=True)
        logs = {
            "test_cosine_False_mAP_score": maps,
            "test_cosine_False_rank_to_accuracy_dict": {
                epoch: {"rank-1 accuracy": value + 0.05} for epoch, value in maps.items()
            },
        }
        with open(release / phase / "accumulated_logs_dict.pkl", "wb") as logs_file:
            pickle.dump(logs, logs_file)
    (release / "training_model.h5").write_bytes(b"")
    returncode, output = run_sweep(
        [
            "--summarize_runs",
            f"{tmp_path / 'output'},{release}",
            "--sweep_folder_path",
            str(tmp_path / "summary"),
        ]
    )
    assert returncode == 0, output[-3000:]
    summary = pd.read_csv(tmp_path / "summary" / "sweep_summary.csv").set_index("run")
    assert summary.loc["output", "best_test_mAP_fraction"] == pytest.approx(0.7)
    assert summary.loc["output", "test_rank1_at_best_fraction"] == pytest.approx(0.8)
    assert summary.loc["output", "best_epoch"] == 2
    assert summary.loc["output", "training_hours"] == pytest.approx(2.5)
    assert summary.loc["Market1501_resnesta50", "best_test_mAP_fraction"] == pytest.approx(0.9)
    assert summary.loc["Market1501_resnesta50", "best_epoch"] == 11  # epoch 10 of phase B
    assert summary.loc["Market1501_resnesta50", "test_rank1_at_best_fraction"] == pytest.approx(
        0.95
    )
    assert (summary["status"] == "finished").all()
    assert os.path.isfile(tmp_path / "summary" / "sweep_test_mAP.png")


def test_a_stopped_sweep_stops_its_run_which_saves_and_continues_later(data_root, tmp_path):
    """SIGTERM to the sweep reaches its running run, which saves and stops; the sweep waits for
    it (no orphan), ends without a traceback, and the same command continues the run."""
    sweep = [
        *TINY_RUN,
        "--root_folder_path",
        data_root,
        "--steps_per_epoch",
        "20",
        "--grid",
        "use_re_ranking=false",
        "--sweep_folder_path",
        str(tmp_path),
    ]
    process = start_python(["-u", "sweep.py", *sweep])
    log_file_path = tmp_path / "logs" / "use_re_ranking-false.log"
    deadline = time.time() + 600
    while "epoch 1, step" not in (log_file_path.read_text() if log_file_path.exists() else ""):
        assert time.time() < deadline and process.poll() is None
        time.sleep(0.5)
    run_pid = int(
        json.loads(
            (
                tmp_path / "use_re_ranking-false" / "Synthetic_resnet18" / ".flipreid.lock"
            ).read_text()
        )["pid"]
    )
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 143, output[-3000:]
    assert "Traceback" not in output and "use_re_ranking-false: interrupted" in output
    assert "Stopped on SIGTERM after step" in log_file_path.read_text()
    with pytest.raises(ProcessLookupError):  # the run ended with the sweep
        os.kill(run_pid, 0)
    # The same command continues the run (stopped here after one step: that is enough).
    process = start_python(
        ["-u", "sweep.py", *sweep],
        environment=quiet_environment(FLIPREID_CRASH_AT="train step ends:1"),
    )
    output, _ = process.communicate(timeout=600)
    assert "Resuming from" in log_file_path.read_text() and "Traceback" not in output


def test_the_error_line_of_a_failed_run_is_found_whoever_wrote_it(tmp_path):
    """solution.py's own "Error: ...", absl's flag-parser line (not the "Pass --helpshort"
    line that follows it), the exception line of a traceback, or the log's last line."""
    logs = {
        "ours": (
            "Devices: ...\n\nError: --steps_per_epoch must be at least 1; got 0.\n",
            "Error: ",
        ),
        "absl": (
            "FATAL Flags parsing error: flag --steps_per_epoch=x: invalid literal for int() with "
            "base 10: 'x'\nPass --helpshort or --helpfull to see help on flags.\n",
            "FATAL Flags parsing error: flag --steps_per_epoch=x",
        ),
        "traceback": (
            'Traceback (most recent call last):\n  File "solution.py", line 3, in <module>\n'
            "    main()\nMemoryError: out of memory\n",
            "MemoryError: out of memory",
        ),
        "other": ("epoch 1, step 2/3\nKilled\n", "Killed"),
    }
    for name, (text, expected) in logs.items():
        (tmp_path / f"{name}.log").write_text(text)
        assert last_error_line(str(tmp_path / f"{name}.log")).startswith(expected), name


def test_a_sweep_leaves_tensorflows_log_level_to_its_runs():
    """Each run hides TensorFlow's C++ start-up lines itself unless the user chose a level
    (TF_CPP_MIN_LOG_LEVEL); a sweep that set it would pass its own choice on as the user's."""
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    process = start_python(
        [
            "-c",
            "import os, sys\nsys.argv = ['sweep.py']\nimport sweep\n"
            "print('TF_CPP_MIN_LOG_LEVEL' in os.environ, 'tensorflow' in sys.modules)",
        ],
        environment=environment,
    )
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output[-2000:]
    assert output.strip().splitlines()[-1] == "False False"


def write_run(folder, *, flags: str, results: list[tuple], best_epoch) -> None:
    """A run folder as solution.py leaves it: flags.txt, results.csv (epoch, dataset, kind,
    mAP, rank-1 per row) and results.json naming the best epoch."""
    folder.mkdir(parents=True)
    (folder / "flags.txt").write_text(flags)
    pd.DataFrame(
        results, columns=["epoch", "dataset", "distances", "mAP_fraction", "rank1_fraction"]
    ).to_csv(folder / "results.csv", index=False)
    best = None if best_epoch is None else {"epoch": best_epoch, "dataset": results[0][1]}
    (folder / "results.json").write_text(json.dumps({"best": best}))


def test_runs_that_test_on_several_datasets_get_the_train_x_test_table(tmp_path):
    write_run(
        tmp_path / "a" / "Market1501_resnet50",
        flags="--dataset_name=Market1501\n--noevaluation_only\n",
        results=[
            (1, "Market1501", "plain", 0.50, 0.60),
            (1, "MSMT17_V1", "plain", 0.10, 0.20),
            (2, "Market1501", "plain", 0.80, 0.90),  # the best epoch: its row of each dataset
            (2, "Market1501", "re-ranked", 0.85, 0.91),
            (2, "MSMT17_V1", "plain", 0.15, 0.25),
        ],
        best_epoch=2,
    )
    write_run(
        tmp_path / "b" / "CUHK03_NP_labeled_resnet50",
        flags="--dataset_name=CUHK03_NP_labeled\n--noevaluation_only\n",
        results=[
            (1, "CUHK03_NP_labeled", "plain", 0.40, 0.45),
            (1, "Market1501", "plain", 0.30, 0.55),
            (1, "MSMT17_V1", "plain", 0.05, 0.125),
        ],
        best_epoch=1,
    )
    returncode, output = run_sweep(
        [
            "--summarize_runs",
            f"{tmp_path / 'a'},{tmp_path / 'b'}",
            "--sweep_folder_path",
            str(tmp_path / "summary"),
        ]
    )
    assert returncode == 0, output[-3000:]
    expected = [
        "| trained on \\ tested on | Market1501 | MSMT17_V1 | CUHK03_NP_labeled |",
        "| --- | --- | --- | --- |",
        "| Market1501 | 80.0 / 90.0 | 15.0 / 25.0 |  |",
        "| CUHK03_NP_labeled | 30.0 / 55.0 | 5.0 / 12.5 | 40.0 / 45.0 |",
    ]
    assert "\n".join(expected) in output, output[-3000:]
    table = pd.read_csv(tmp_path / "summary" / "sweep_cross_domain.csv")
    assert len(table) == 5 and set(table["trained_on"]) == {"Market1501", "CUHK03_NP_labeled"}
