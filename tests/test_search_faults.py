"""search.py under faults: killed at every step of putting its results in place, leftovers of
killed writes, two searches into one folder, damaged model files and calibration folders. The
model is a hand-made ONNX graph (a mean over the rows, then a fixed projection) with a
hand-written description, so each search takes seconds and needs no TensorFlow."""

import fcntl
import json
import os
import re

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import assert_one_error, quiet_environment, start_python, without_tensorflow

HEIGHT, WIDTH, DIMENSION = 64, 32, 16
THRESHOLDS = {
    "dataset": "handmade",
    "epoch": None,
    "flip_averaged": False,
    "thresholds": {"1e-2": 0.03, "1e-3": 0.02, "1e-4": 0.01},
    "true_positive_rates": {"1e-2": 0.5, "1e-3": 0.4, "1e-4": 0.3},
    "roc_auc": 0.9,
}


def run_search(arguments, *, environment=None):
    process = start_python(["-u", "search.py", *arguments], environment=environment)
    output, _ = process.communicate(timeout=600)
    return process.returncode, output


def write_model(folder, description_changes=None) -> str:
    """model.onnx: images (n, 64, 32, 3) -> mean over the rows -> (n, 96) -> a fixed random
    projection -> (n, 16) embeddings; and its description."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    projection = np.random.default_rng(0).normal(size=(WIDTH * 3, DIMENSION)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["images"], ["rows"], axes=[1], keepdims=0),
            helper.make_node("Reshape", ["rows", "shape"], ["flat"]),
            helper.make_node("MatMul", ["flat", "projection"], ["embeddings"]),
        ],
        "handmade",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [None, HEIGHT, WIDTH, 3])],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, [None, DIMENSION])],
        initializer=[
            numpy_helper.from_array(np.array([-1, WIDTH * 3], np.int64), "shape"),
            numpy_helper.from_array(projection, "projection"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = os.path.join(folder, "model.onnx")
    onnx.save(model, path)
    description = {
        "format": "onnx",
        "layout": "pixels",
        "flip_averaged": False,
        "embedding_dimension": DIMENSION,
        "image_height": HEIGHT,
        "image_width": WIDTH,
        "backbone_model_name": "handmade",
        "same_person": THRESHOLDS,
        **(description_changes or {}),
    }
    with open(os.path.join(folder, "model.json"), "w") as description_file:
        json.dump(description, description_file)
    return path


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """(query folder A with 2 images, query folder B with 1, gallery folder with 8), random
    pictures named as Market1501's."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(1)
    folders = {name: root / name for name in ("queries_a", "queries_b", "gallery")}
    for folder in folders.values():
        folder.mkdir()
    names = {
        "queries_a": ["0001_c1s1_000001_00.jpg", "0002_c1s1_000002_00.jpg"],
        "queries_b": ["0003_c1s1_000003_00.jpg"],
        "gallery": [f"000{1 + i % 3}_c2s1_00001{i}_00.jpg" for i in range(8)],
    }
    for folder_name, file_names in names.items():
        for name in file_names:
            picture = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
            cv2.imwrite(str(folders[folder_name] / name), picture)
    return folders


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return write_model(str(tmp_path_factory.mktemp("model")))


def one_search(folder) -> str | None:
    """None when index.html, ranked_lists.csv and ranked_lists/ describe one search, or when
    index.html says that they may not; else what differs."""
    page = (folder / "index.html").read_text()
    if "was interrupted while it put its results in place" in page:
        return None
    listed = sorted(re.findall(r'src="ranked_lists/([^"]+)"', page))
    drawn = sorted(name for name in os.listdir(folder / "ranked_lists") if not name.startswith("."))
    queries = pd.read_csv(folder / "ranked_lists.csv")["query_image_file_path"].unique()
    in_csv = sorted(
        f"{i + 1:04d}_{os.path.splitext(os.path.basename(q))[0]}.png" for i, q in enumerate(queries)
    )
    if listed == drawn == in_csv:
        return None
    return f"index.html lists {listed}, ranked_lists/ holds {drawn}, ranked_lists.csv {in_csv}"


SWAP_STEPS = [
    "wrote .ranked_lists.csv",  # the new results half staged
    "search swap begins",
    "wrote index.html",  # the page that says a swap is under way
    "search swap renamed old folder",
    "search swap renamed new folder",
    "search swap renamed csv",
    "search swap renamed index",
]


def test_a_search_killed_at_any_step_of_its_swap_is_finished_by_the_same_command(
    model, images, tmp_path
):
    """Search A (2 queries), then search B (1 query) into the same folder, killed at each step
    of putting its results in place in turn (each run first finishes what the previous one
    left, and may be killed doing so); after every kill the folder shows one search or says
    that it does not; the same command then leaves B's results, and no temporary of a killed
    write survives it, while files that are not the search's stay."""
    folder = tmp_path / "results"
    folder.mkdir()
    ours = [
        ".ranked_lists.a1b2c3d4.tmp.csv",
        ".gallery_features_0123456789abcdef.a1b2c3d4.tmp.npz",
        ".index.q1w2e3r4.tmp.html",
    ]
    theirs = ["notes.tmp", ".notes.a1b2c3d4.tmp.txt", "my.csv"]
    for name in ours + theirs:
        (folder / name).write_text("half")
    (folder / ".ranked_lists.new.k1ll3d00.partial").mkdir()
    common = ["--model_file_path", model, "--gallery_path", str(images["gallery"])]
    common += ["--output_folder_path", str(folder), "--top_k", "3"]
    returncode, output = run_search([*common, "--query_path", str(images["queries_a"])])
    assert returncode == 0, output[-3000:]
    assert "Removed 4 temporary file(s) that an interrupted search left" in output
    assert all(name not in os.listdir(folder) for name in ours)
    assert all((folder / name).exists() for name in theirs)
    assert one_search(folder) is None and len(os.listdir(folder / "ranked_lists")) == 2

    command_b = [*common, "--query_path", str(images["queries_b"])]
    for step in SWAP_STEPS:
        environment = quiet_environment(FLIPREID_CRASH_AT=f"{step}:1")
        returncode, output = run_search(command_b, environment=environment)
        assert returncode == -9, (step, output[-3000:])
        assert one_search(folder) is None, (step, one_search(folder))
    returncode, output = run_search(command_b)
    assert returncode == 0, output[-3000:]
    assert one_search(folder) is None
    assert os.listdir(folder / "ranked_lists") == ["0001_0003_c1s1_000003_00.png"]
    left = sorted(os.listdir(folder))
    assert left == sorted(
        [
            *theirs,
            "index.html",
            "ranked_lists",
            "ranked_lists.csv",
            *[n for n in left if n.startswith("gallery_features_")],
        ]
    ), left
    assert "ranked_lists.new" not in left and "ranked_lists.old" not in left


@pytest.mark.parametrize("step", ["search swap begins", "search swap renamed new folder"])
def test_ctrl_c_is_one_message_and_the_next_search_finishes(model, images, tmp_path, step):
    """Ctrl-C before the swap or in the middle of it: no traceback, exit status 130, the
    folder shows one search or says that it does not, and the same command finishes."""
    folder = tmp_path / "results"
    command = ["--model_file_path", model, "--gallery_path", str(images["gallery"])]
    command += ["--output_folder_path", str(folder), "--query_path", str(images["queries_b"])]
    environment = quiet_environment(FLIPREID_CRASH_AT=f"{step}:1:SIGINT")
    returncode, output = run_search(command, environment=environment)
    assert returncode == 130 and "Traceback" not in output, output[-3000:]
    assert "Stopped by Ctrl-C." in output
    if step == "search swap begins":  # a first search into the folder: nothing shown yet
        assert not {"index.html", "ranked_lists.csv", "ranked_lists"} & set(os.listdir(folder))
    else:
        assert one_search(folder) is None
    returncode, output = run_search(command)
    assert returncode == 0, output[-3000:]
    assert os.listdir(folder / "ranked_lists") == ["0001_0003_c1s1_000003_00.png"]


def test_one_search_at_a_time_writes_a_folder(model, images, tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    with open(folder / ".search.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write(json.dumps({"pid": 4242, "host": "h", "started": "s", "command": "search.py"}))
        lock.flush()
        assert_one_error(
            run_search(
                ["--model_file_path", model, "--query_path", str(images["queries_b"])]
                + ["--gallery_path", str(images["gallery"]), "--output_folder_path", str(folder)]
            ),
            [
                f"The output folder {folder} is in use by another process (process 4242 on h",
                "choose another --output_folder_path",
            ],
        )
    assert os.listdir(folder) == [".search.lock"]


def test_bad_input_leaves_no_output_folder_made_for_it(model, images, tmp_path):
    """A missing query or gallery path is found before the output folder is made; an input
    found wanting later (a missing model, a gallery folder without images) ends with the folder
    made for this search gone.
    A folder that was there before is kept, whatever it holds."""
    queries, gallery = str(images["queries_b"]), str(images["gallery"])
    missing = str(tmp_path / "no_such_folder")
    cases = {
        "--model_file_path": [missing + ".onnx", queries, gallery],
        "--query_path": [model, missing, gallery],
        "--gallery_path": [model, queries, missing],
    }
    for flag, (model_path, query_path, gallery_path) in cases.items():
        folder = tmp_path / f"results{flag}"
        assert_one_error(
            run_search(
                ["--model_file_path", model_path, "--query_path", query_path]
                + ["--gallery_path", gallery_path, "--output_folder_path", str(folder)]
            ),
            [missing, "does not exist"],
        )
        assert not folder.exists(), flag
    empty = tmp_path / "empty"
    empty.mkdir()
    folder = tmp_path / "results_model_folder"
    assert_one_error(  # told before TensorFlow is imported (the file is no .onnx)
        run_search(
            ["--model_file_path", str(empty), "--query_path", queries, "--gallery_path", gallery]
            + ["--output_folder_path", str(folder)],
            environment=without_tensorflow(tmp_path / "no_tf"),
        ),
        [f"--model_file_path {str(empty)!r} is a folder; expected a file"],
    )
    assert not folder.exists()
    arguments = ["--model_file_path", model, "--query_path", queries, "--gallery_path", str(empty)]
    folder = tmp_path / "results"
    assert_one_error(
        run_search([*arguments, "--output_folder_path", str(folder)]), ["holds no images"]
    )
    assert not folder.exists()
    folder.mkdir()
    (folder / "notes.txt").write_text("the user's")
    assert_one_error(
        run_search([*arguments, "--output_folder_path", str(folder)]), ["holds no images"]
    )
    assert sorted(os.listdir(folder)) == ["notes.txt"]


def test_damaged_model_files_and_calibration_folders_are_refused_in_one_line(
    model, images, tmp_path
):
    """A garbled, empty or truncated description, one of another shape, impossible thresholds
    in it, a truncated model, an export killed before its model was in place; a calibration
    folder whose results.json is garbage, empty or a list, or whose results give a cosine
    distance of -5."""
    cases = {}
    for name, content in {
        "garbled": '{"image_height": 64, "image_wid',
        "empty": "",
        "a list": "[1, 2]",
    }.items():
        folder = tmp_path / name.replace(" ", "_")
        folder.mkdir()
        write_model(str(folder))
        (folder / "model.json").write_text(content)
        cases[name] = (
            str(folder / "model.onnx"),
            [],
            ["model.json' is damaged", "export the model again"],
        )
    folder = tmp_path / "no_size"
    folder.mkdir()
    write_model(str(folder), {"image_height": "sixty-four"})
    cases["no size"] = (str(folder / "model.onnx"), [], ["image_height is 'sixty-four'"])
    folder = tmp_path / "minus_five"
    folder.mkdir()
    write_model(str(folder), {"same_person": {**THRESHOLDS, "thresholds": {"1e-3": -5}}})
    cases["impossible"] = (str(folder / "model.onnx"), [], ["-5, which no cosine distance can be"])
    folder = tmp_path / "truncated"
    folder.mkdir()
    write_model(str(folder))
    data = (folder / "model.onnx").read_bytes()
    (folder / "model.onnx").write_bytes(data[: len(data) // 2])
    cases["truncated"] = (
        str(folder / "model.onnx"),
        [],
        ["model.onnx' is damaged (ONNX Runtime cannot load it", "export the model again"],
    )
    folder = tmp_path / "unfinished_export"  # killed between export.py's two renames
    folder.mkdir()
    write_model(str(folder))
    os.rename(folder / "model.onnx", folder / ".model.onnx.unchecked")
    cases["unfinished export"] = (
        str(folder / "model.onnx"),
        [],
        ["was stopped before it put the model in place", "Run the same export.py command again"],
    )
    for name, content in {"garbage": "not json {", "empty": "", "a list": "[]"}.items():
        run_folder = tmp_path / f"calibration_{name.replace(' ', '_')}"
        write_calibration(run_folder, threshold=0.02)
        (run_folder / "results.json").write_text(content)
        cases[f"calibration {name}"] = (
            model,
            ["--same_person_calibration_path", str(run_folder)],
            [f"--same_person_calibration_path {str(run_folder)!r} holds damaged results"],
        )
    run_folder = tmp_path / "calibration_minus_five"
    write_calibration(run_folder, threshold=-5.0)
    cases["calibration minus five"] = (
        model,
        ["--same_person_calibration_path", str(run_folder)],
        ["holds damaged results", "-5.0, which no cosine distance can be"],
    )
    processes = {
        name: start_python(
            ["-u", "search.py", "--model_file_path", model_path, *more]
            + ["--query_path", str(images["queries_b"]), "--gallery_path", str(images["gallery"])]
            + ["--output_folder_path", str(tmp_path / f"out_{index}")]
        )
        for index, (name, (model_path, more, _)) in enumerate(cases.items())
    }
    for name, process in processes.items():
        output, _ = process.communicate(timeout=600)
        assert_one_error((process.returncode, output), cases[name][2])


def write_calibration(folder, *, threshold: float) -> None:
    """A hand-made --evaluation_only run folder: results.csv with one plain row whose
    thresholds are all `threshold`, results.json naming it best, flags.txt."""
    folder.mkdir()
    row = {"epoch": "", "dataset": "handmade", "distances": "plain", "ROC_AUC_fraction": 0.9}
    for label in ("1e-2", "1e-3", "1e-4"):
        row[f"cosine_distance_threshold_at_FPR_{label}"] = threshold
        row[f"TPR_at_FPR_{label}_fraction"] = 0.5
    pd.DataFrame([row]).to_csv(folder / "results.csv", index=False)
    (folder / "results.json").write_text(json.dumps({"best": {"epoch": "", "dataset": "handmade"}}))
    (folder / "flags.txt").write_text("--nouse_horizontal_flipping_in_evaluation\n")


def test_the_first_line_comes_before_tensorflow_is_imported(images, tmp_path):
    blocker = tmp_path / "no_tensorflow"
    for name in ("tensorflow", "keras", "tf_keras", "tf2cv"):
        (blocker / name).mkdir(parents=True)
        (blocker / name / "__init__.py").write_text("raise ImportError('imported too early')\n")
    (tmp_path / "inference_model.h5").write_bytes(b"not read")
    _, output = run_search(
        ["--model_file_path", str(tmp_path / "inference_model.h5")]
        + ["--query_path", str(images["queries_b"]), "--gallery_path", str(images["gallery"])]
        + ["--output_folder_path", str(tmp_path / "out")],
        environment=quiet_environment(PYTHONPATH=str(blocker)),
    )
    first_line = output.splitlines()[0]
    assert first_line.startswith("Loading the model ") and "TensorFlow" in first_line, output
    assert "imported too early" in output
