"""Your own images: search.py against the model of the shrunk seed training run, the ranked
lists of the test set, evaluation with either weights file, and the SavedModel export."""

import json
import os
import shutil

import cv2
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from conftest import SHRUNK, evaluate_concurrently, start_python, without_tensorflow

import applications
from visualization import BORDER, CAPTION_HEIGHT, GAP, THUMBNAIL_SIZE


def run_search(arguments, timeout=600):
    process = start_python(["-u", "search.py", *arguments])
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


def run_export(run_folder, output_path, flags):
    """(exit status, output) of export.py on the run's inference model, with flags (a list)."""
    model_path = os.path.join(run_folder, "inference_model.h5")
    process = start_python(
        ["-u", "export.py", "--model_file_path", model_path, "--output_path", output_path, *flags]
    )
    output, _ = process.communicate(timeout=600)
    return process.returncode, output


def test_search_ranks_same_identity_images_first(trained, market_root, tmp_path):
    _, run_folder, returncode, _ = trained
    assert returncode == 0
    market = os.path.join(market_root, "Market-1501-v15.09.15")
    gallery = tmp_path / "gallery"
    shutil.copytree(os.path.join(market, "bounding_box_test"), gallery)
    (gallery / "notes.txt").write_text("not an image")
    (gallery / "Thumbs.db").write_bytes(b"\0")
    results = tmp_path / "results"
    arguments = [
        "--model_file_path",
        os.path.join(run_folder, "inference_model.h5"),
        "--query_path",
        os.path.join(market, "query"),
        "--gallery_path",
        str(gallery),
        "--output_folder_path",
        str(results),
        "--top_k",
        "5",
    ]
    returncode, output = run_search(arguments)
    assert returncode == 0, output[-3000:]
    assert "2 files in the gallery folder" in output and "Thumbs.db, notes.txt" in output
    assert "Embedded" in output and "features cached in" in output
    assert "Search accuracy over the " in output and "rank-1 " in output

    ranked = pd.read_csv(results / "ranked_lists.csv")
    queries = sorted(os.listdir(os.path.join(market, "query")))
    assert len(ranked) == 5 * len(queries) and ranked["rank"].tolist()[:5] == [1, 2, 3, 4, 5]
    first = ranked[ranked["rank"] == 1]
    # Chance of a match at rank 1: the share of each query's candidates that match it. The
    # fixture's model trains for a few steps only: 7 of 14 queries right at rank 1 (Keras 3's
    # random start, 2026-12-07), five times chance.
    gallery_identities = [name.split("_")[0] for name in os.listdir(gallery) if "_c" in name]
    chance = np.mean([gallery_identities.count(q.split("_")[0]) for q in queries]) / len(
        gallery_identities
    )
    assert first["match"].mean() >= max(0.4, 4 * chance), (first["match"].mean(), chance)
    assert (
        ranked.groupby("query_image_file_path")["distance"]
        .apply(lambda distances: distances.is_monotonic_increasing)
        .all()
    )

    pictures = sorted((results / "ranked_lists").glob("*.png"))
    assert len(pictures) == len(queries)
    height, width = THUMBNAIL_SIZE
    expected_shape = (height + 2 * BORDER + CAPTION_HEIGHT, 6 * (width + 2 * BORDER) + GAP, 3)
    for picture in pictures[:3]:
        assert cv2.imread(str(picture)).shape == expected_shape
    page = (results / "index.html").read_text()
    assert all(f'src="ranked_lists/{picture.name}"' in page for picture in pictures)
    assert "Distances: cosine, without re-ranking" in page and "Search accuracy over" in page
    assert f"Model: {arguments[1]} (resnet18, 64x32)" in page

    # A second query batch against the same gallery does not embed the gallery again.
    returncode, output = run_search(
        [*arguments[:3], os.path.join(market, "query", queries[0]), *arguments[4:]]
    )
    assert returncode == 0 and "Gallery features reused from" in output
    assert len(pd.read_csv(results / "ranked_lists.csv")) == 5
    # This search's one picture replaced the earlier search's, which the index no longer lists.
    assert [picture.name for picture in (results / "ranked_lists").glob("*.png")] == [
        f"0001_{os.path.splitext(queries[0])[0]}.png"
    ]
    # A damaged cache is a cache miss: a warning, the features computed again. And what a
    # search killed while it swapped its picture folder in, or while it drew, left behind is
    # finished or cleared: a whole ranked_lists.new, a half-drawn temporary folder.
    (cache,) = results.glob("gallery_features_*.npz")
    cache.write_bytes(cache.read_bytes()[:100])
    shutil.copytree(results / "ranked_lists", results / "ranked_lists.new")
    (results / ".ranked_lists.new.k1ll3d00.partial").mkdir()
    (results / ".ranked_lists.new.k1ll3d00.partial" / "0001_half.png").write_bytes(b"\x89PNG")
    returncode, output = run_search(arguments)
    assert returncode == 0, output[-3000:]
    assert f"Warning: the gallery cache {cache} cannot be read" in output
    assert "Embedded" in output and "Traceback" not in output
    assert sorted(path.name for path in results.iterdir() if "ranked_lists" in path.name) == [
        "ranked_lists",
        "ranked_lists.csv",
    ]
    assert len(list((results / "ranked_lists").glob("*.png"))) == len(queries)
    returncode, output = run_search(arguments)
    assert returncode == 0 and "Gallery features reused from" in output


def test_search_explains_bad_input(trained, market_root, tmp_path):
    _, run_folder, returncode, _ = trained
    assert returncode == 0
    query = os.path.join(market_root, "Market-1501-v15.09.15", "query")
    empty = tmp_path / "empty"
    empty.mkdir()
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    shutil.copy(os.path.join(run_folder, "inference_model.h5"), lonely)
    inference = os.path.join(run_folder, "inference_model.h5")
    cases = {
        "empty folder": (
            ["--model_file_path", inference, "--query_path", query, "--gallery_path", str(empty)],
            f"The gallery folder {str(empty)!r} holds no images",
        ),
        "missing json": (
            [
                "--model_file_path",
                str(lonely / "inference_model.h5"),
                "--query_path",
                query,
                "--gallery_path",
                query,
            ],
            "is an inference model, but the .json that describes it",
        ),
        "image size": (
            [
                "--model_file_path",
                inference,
                "--query_path",
                query,
                "--gallery_path",
                query,
                "--image_height",
                "384",
            ],
            "--image_height 384 does not match the model, which was built for 64x32 images",
        ),
    }
    processes = {  # one output folder each: one search at a time writes a folder
        name: start_python(
            ["-u", "search.py", *arguments]
            + ["--output_folder_path", str(tmp_path / name.replace(" ", "_"))]
        )
        for name, (arguments, _) in cases.items()
    }
    for name, process in processes.items():
        output, _ = process.communicate(timeout=600)
        assert process.returncode == 1, (name, output[-2000:])
        message = output[output.index("Error: ") :]
        assert cases[name][1] in message, (name, output[-2000:])
        assert "Traceback" not in output, name


def test_evaluation_only_takes_either_weights_file_and_draws_ranked_lists(
    trained, market_root, tmp_path
):
    _, run_folder, returncode, _ = trained
    assert returncode == 0
    command = [
        *SHRUNK,
        "--dataset_name",
        "Market1501",
        "--root_folder_path",
        market_root,
        "--use_horizontal_flipping_inside_model",
        "--use_horizontal_flipping_in_evaluation",
        "--evaluation_only",
        "--ranked_list_num",
        "2",
    ]
    results = evaluate_concurrently(
        {
            name: [
                *command,
                "--pretrained_model_file_path",
                os.path.join(run_folder, name),
                "--output_folder_path",
                str(tmp_path / name),
            ]
            for name in ("training_model.h5", "inference_model.h5")
        }
    )
    for name, (output, _) in results.items():
        assert f"Loaded the {name.split('_')[0]} model weights" in output
        ranked_lists = tmp_path / name / "Market1501_resnet18" / "ranked_lists"
        assert sorted(path.name for path in ranked_lists.glob("*.png")) == [
            "001_worst.png",
            "002_worst.png",
            "003_best.png",
            "004_best.png",
        ]
        page = (ranked_lists / "index.html").read_text()
        assert "worst:" in page and "best:" in page and "average precision" in page
    mean_average_precisions = {name: result[1] for name, result in results.items()}
    assert (
        mean_average_precisions["inference_model.h5"]
        == mean_average_precisions["training_model.h5"]
    )
    assert 0 < mean_average_precisions["training_model.h5"] <= 1


def test_exported_saved_model_gives_the_keras_embeddings(trained, market_root, tmp_path):
    _, run_folder, returncode, _ = trained
    assert returncode == 0
    query = os.path.join(market_root, "Market-1501-v15.09.15", "query")
    export = tmp_path / "saved_model"
    returncode, output = run_search(
        [
            "--model_file_path",
            os.path.join(run_folder, "training_model.h5"),  # with its flags.txt
            "--query_path",
            query,
            "--gallery_path",
            query,
            "--output_folder_path",
            str(tmp_path / "results"),
            "--export_saved_model_path",
            str(export),
        ]
    )
    assert returncode == 0, output[-3000:]
    images = np.random.default_rng(0).uniform(0, 255, (3, 64, 32, 3)).astype(np.float32)
    served = tf.saved_model.load(str(export)).signatures["serving_default"](tf.constant(images))
    keras_model = applications.load_inference_model(os.path.join(run_folder, "inference_model.h5"))
    expected = np.concatenate([e.numpy() for e in keras_model(images, training=False)], axis=1)
    np.testing.assert_allclose(served["embeddings"].numpy(), expected, atol=1e-5)


@pytest.mark.parametrize("name", ["training_model.h5", "inference_model.h5"])
def test_weights_files_are_told_apart_by_content(trained, tmp_path, name):
    _, run_folder, returncode, _ = trained
    assert returncode == 0
    renamed = tmp_path / "weights.h5"  # the name says nothing
    shutil.copy(os.path.join(run_folder, name), renamed)
    assert applications.weights_file_kind(str(renamed)) == name.split("_")[0]


@pytest.mark.parametrize(
    "distances,decimals",
    [
        ([0.1, 0.2, 0.3], 4),
        ([0.00131, 0.00134, 0.0026], 5),  # the demo's range: 4 decimals print 0.0013 twice
        ([0.5, 0.5, 0.6], 4),  # equal distances need no more
        ([0.1234561, 0.1234564, 0.2], 7),
        ([0.123456781, 0.123456789], 4),  # apart only beyond the 7 that fit: no help in more
    ],
)
def test_ranked_list_distances_get_the_decimals_that_tell_neighbours_apart(distances, decimals):
    from visualization import distance_decimals

    assert distance_decimals(distances) == decimals


def test_the_querys_camera_is_drawn_on_a_line_of_its_own(tmp_path):
    from visualization import draw_ranked_list

    image_path = str(tmp_path / "person.png")
    cv2.imwrite(image_path, np.full((128, 64, 3), 90, np.uint8))
    pictures = {
        camera: draw_ranked_list(
            image_path, [image_path], [0.25], matches=[None], query_camera=camera
        )
        for camera in (None, 3)
    }
    height = THUMBNAIL_SIZE[0] + 2 * BORDER
    query_width = THUMBNAIL_SIZE[1] + 2 * BORDER
    second_line = slice(height + 15, height + CAPTION_HEIGHT)  # under "query"
    assert (pictures[None][second_line, :query_width] == 255).all()
    assert (pictures[3][second_line, :query_width] < 128).any()  # "cam 3" drawn there


def test_the_model_description_keeps_the_thresholds_its_weights_were_chosen_by(trained):
    """inference_model.json's same_person entry is the plain row of the evaluation results.json
    names best (the fixture watches the re-ranked mAP, so the best row itself is re-ranked)."""
    _, run_folder, returncode, _ = trained
    assert returncode == 0
    with open(os.path.join(run_folder, "results.json")) as results_file:
        best = json.load(results_file)["best"]
    assert best["distances"] == "re-ranked"
    rows = pd.read_csv(os.path.join(run_folder, "results.csv"))
    plain = rows[(rows["epoch"] == best["epoch"]) & (rows["distances"] == "plain")].iloc[0]
    with open(os.path.join(run_folder, "inference_model.json")) as description_file:
        same_person = json.load(description_file)["same_person"]
    assert same_person["dataset"] == "Market1501" and same_person["epoch"] == best["epoch"]
    for label in ("1e-2", "1e-3", "1e-4"):
        assert (
            same_person["thresholds"][label] == plain[f"cosine_distance_threshold_at_FPR_{label}"]
        )
        assert same_person["true_positive_rates"][label] == plain[f"TPR_at_FPR_{label}_fraction"]
    assert same_person["roc_auc"] == plain["ROC_AUC_fraction"]
    assert same_person["flip_averaged"] is False  # the seed command evaluates without flipping
    # Every plain row has the figures, a re-ranked row leaves them empty.
    assert rows[rows["distances"] == "plain"]["ROC_AUC_fraction"].between(0, 1).all()
    assert rows[rows["distances"] == "re-ranked"]["ROC_AUC_fraction"].isna().all()


@pytest.fixture(scope="module")
def onnx_export(trained, tmp_path_factory):
    """(exit status, output, path) of export.py on the trained model's inference model, the
    mirror averaged inside the graph; shared by the tests of this file that need an export."""
    _, run_folder, _, _ = trained
    onnx_path = str(tmp_path_factory.mktemp("onnx_export") / "model.onnx")
    returncode, output = run_export(
        run_folder, onnx_path, ["--use_horizontal_flipping_in_evaluation"]
    )
    return returncode, output, onnx_path


def test_an_onnx_export_ranks_as_the_keras_model_without_tensorflow(
    trained, market_root, onnx_export, tmp_path
):
    _, run_folder, returncode, _ = trained
    assert returncode == 0
    market = os.path.join(market_root, "Market-1501-v15.09.15")
    returncode, output, onnx_path = onnx_export
    assert returncode == 0, output[-3000:]
    assert "largest difference from the Keras model" in output
    with open(os.path.splitext(onnx_path)[0] + ".json") as description_file:
        description = json.load(description_file)
    assert description["flip_averaged"] is True and "same_person" in description
    # nothing unchecked, staged or locked left
    assert sorted(os.listdir(os.path.dirname(onnx_path))) == ["model.json", "model.onnx"]
    process = start_python(
        ["-u", "export.py", "--model_file_path", onnx_path, "--output_path", onnx_path]
    )
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 1 and "exists; nothing was changed" in output, output[-3000:]

    def search(model_path, folder, environment=None):
        process = start_python(
            [
                "-u",
                "search.py",
                "--model_file_path",
                model_path,
                "--query_path",
                os.path.join(market, "query"),
                "--gallery_path",
                os.path.join(market, "bounding_box_test"),
                "--output_folder_path",
                str(tmp_path / folder),
                "--use_horizontal_flipping_in_evaluation",
                "--same_person_false_positive_rate",
                "0.01",
            ],
            environment=environment,
        )
        output, _ = process.communicate(timeout=600)
        assert process.returncode == 0, output[-3000:]
        return output, pd.read_csv(tmp_path / folder / "ranked_lists.csv")

    _, keras = search(os.path.join(run_folder, "inference_model.h5"), "keras")
    onnx_output, onnx = search(onnx_path, "onnx", without_tensorflow(tmp_path / "no_tensorflow"))
    assert "ONNX Runtime" in (tmp_path / "onnx" / "index.html").read_text()
    threshold = description["same_person"]["thresholds"]["1e-2"]
    assert f"cosine distance below {threshold:.6f}" in onnx_output
    assert len(keras) == len(onnx)
    assert np.abs(keras["distance"] - onnx["distance"]).max() <= 1e-4
    # The same ranked lists, except where two images are closer than the rounding apart: then
    # the two lists' distances at that rank are a near-tie too.
    swapped = keras["gallery_image_file_path"] != onnx["gallery_image_file_path"]
    assert (np.abs(keras["distance"] - onnx["distance"])[swapped] <= 2e-5).all()
    assert swapped.mean() < 0.05, swapped.mean()
    # Each mark is "distance below the model's threshold", in both searches.
    column = "same_person_at_FPR_1e-2"
    for ranked in (keras, onnx):
        assert (ranked[column] == (ranked["distance"] < threshold)).all()
    assert 0 < onnx[column].sum() < len(onnx)  # a case with both answers


def test_a_model_without_thresholds_says_so_and_marks_nothing(trained, market_root, tmp_path):
    _, run_folder, returncode, _ = trained
    assert returncode == 0
    shutil.copy(os.path.join(run_folder, "inference_model.h5"), tmp_path / "model.h5")
    with open(os.path.join(run_folder, "inference_model.json")) as description_file:
        description = json.load(description_file)
    del description["same_person"]
    (tmp_path / "model.json").write_text(json.dumps(description))
    query = os.path.join(market_root, "Market-1501-v15.09.15", "query")
    arguments = ["--model_file_path", str(tmp_path / "model.h5"), "--query_path", query]
    arguments += ["--gallery_path", query, "--output_folder_path", str(tmp_path / "results")]
    returncode, output = run_search(arguments)
    assert returncode == 0, output[-3000:]
    assert "this model comes without thresholds" in output
    assert not any(
        "same_person" in c for c in pd.read_csv(tmp_path / "results" / "ranked_lists.csv")
    )
    arguments[1] = os.path.join(run_folder, "inference_model.h5")  # with thresholds
    returncode, output = run_search([*arguments, "--same_person_false_positive_rate", "0.05"])
    assert returncode == 1 and "not at 5e-2; choose one of those" in output


def test_search_reads_identities_from_cuhk03_np_and_msmt17_folders(trained, market_root, tmp_path):
    """The dataset folders themselves, without a CSV: CUHK03-NP's Market-style names, and
    MSMT17's <identity>/ subfolders and its own file-name grammar."""
    from layout_copies import write_cuhk03_np, write_msmt17

    _, run_folder, returncode, _ = trained
    assert returncode == 0
    market = os.path.join(market_root, "Market-1501-v15.09.15")
    write_cuhk03_np(str(tmp_path), market, "detected")
    write_msmt17(str(tmp_path), market, version=1)
    model = ["--model_file_path", os.path.join(run_folder, "inference_model.h5")]
    cuhk03 = tmp_path / "cuhk03-np" / "detected"
    msmt17_test = tmp_path / "MSMT17_V1" / "test"
    query_folder = sorted(msmt17_test.iterdir())[0]  # one identity's images as the queries
    for query, gallery, name in (
        (cuhk03 / "query", cuhk03 / "bounding_box_test", "cuhk03"),
        (query_folder, msmt17_test, "msmt17"),
    ):
        results = tmp_path / f"results_{name}"
        returncode, output = run_search(
            [*model, "--query_path", str(query), "--gallery_path", str(gallery)]
            + ["--output_folder_path", str(results)]
        )
        assert returncode == 0, output[-3000:]
        assert "Search accuracy over the " in output, output[-3000:]
        ranked = pd.read_csv(results / "ranked_lists.csv")

        # The identity: CUHK03-NP's first field of the name, MSMT17's <identity>/ folder.
        def identity(path, name=name):
            return os.path.basename(path if name == "cuhk03" else os.path.dirname(path)).split("_")[
                0
            ]

        pairs = zip(ranked["query_image_file_path"], ranked["gallery_image_file_path"], strict=True)
        expected = [identity(q) == identity(g) for q, g in pairs]
        assert ranked["match"].tolist() == expected
        assert ranked["gallery_image_file_path"].str.startswith(str(gallery)).all()
    assert len(pd.read_csv(tmp_path / "results_msmt17" / "ranked_lists.csv")) == 10 * len(
        list(query_folder.iterdir())
    )


def test_the_ranked_list_mark_keeps_its_promise_on_the_test_set(
    trained, market_root, onnx_export, tmp_path
):
    """Calibrate the mark with an --evaluation_only run on labelled images (a CSV whose gallery
    also holds a copy of every query, seen by another camera: true matches at distance 0, so
    the mark has something to mark whatever the model's quality), then search the same images
    with those thresholds, with TensorFlow and with the ONNX export (ONNX Runtime, whose
    distances differ in the last bits): at each rank of the top 10, the marked results are the
    same person as often as the evaluation said, and the page says so."""
    _, run_folder, returncode, _ = trained
    assert returncode == 0
    market = os.path.join(market_root, "Market-1501-v15.09.15")
    rows = []
    for split, folder in (("train", "bounding_box_train"), ("query", "query")):
        for name in sorted(os.listdir(os.path.join(market, folder)))[:60]:
            identity, camera = name.split("_")[:2]
            path = os.path.join(market, folder, name)
            rows.append((path, int(identity), int(camera[1]), split))
            if split == "query":  # its copy in the gallery, by camera 9
                shutil.copy(path, tmp_path / f"copy_{name}")
                rows.append((str(tmp_path / f"copy_{name}"), int(identity), 9, "gallery"))
    for name in sorted(os.listdir(os.path.join(market, "bounding_box_test"))):
        if (
            not name.startswith("-1")
            and cv2.imread(os.path.join(market, "bounding_box_test", name)) is not None
        ):
            identity, camera = name.split("_")[:2]
            path = os.path.join(market, "bounding_box_test", name)
            rows.append((path, int(identity), int(camera[1]), "gallery"))
    csv_path = tmp_path / "labelled.csv"
    pd.DataFrame(rows, columns=["image_file_path", "identity_ID", "camera_ID", "split"]).to_csv(
        csv_path, index=False
    )
    weights = os.path.join(run_folder, "inference_model.h5")
    common = ["--use_horizontal_flipping_in_evaluation"]  # as the export embeds
    process = start_python(
        [
            "-u",
            "solution.py",
            "--dataset_name",
            "CSV",
            "--root_folder_path",
            str(csv_path),
            "--pretrained_model_file_path",
            weights,
            "--evaluation_only",
            "--output_folder_path",
            str(tmp_path / "calibration"),
            *common,
        ]
    )
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-3000:]
    (calibration,) = (tmp_path / "calibration").iterdir()
    evaluated = pd.read_csv(calibration / "results.csv").iloc[0]
    threshold = evaluated["cosine_distance_threshold_of_top10_mark"]
    returncode, _, onnx_path = onnx_export
    assert returncode == 0
    for runtime, model_path in (("TensorFlow", weights), ("ONNX Runtime", onnx_path)):
        results = tmp_path / f"results {runtime}"
        returncode, output = run_search(
            [
                "--model_file_path",
                model_path,
                "--query_path",
                str(csv_path),
                "--gallery_path",
                str(csv_path),
                "--output_folder_path",
                str(results),
                "--same_person_calibration_path",
                str(calibration),
                *common,
            ]
        )
        assert returncode == 0, output[-3000:]
        ranked = pd.read_csv(results / "ranked_lists.csv")
        marked = ranked[ranked["same_person_top10_mark"]]
        assert (ranked["same_person_top10_mark"] == (ranked["distance"] < threshold)).all()
        assert 0 < len(marked) < len(ranked), "a case with both answers"
        # What the evaluation promised, rank by rank, is what the search shows.
        for rank in range(1, 11):
            promised = evaluated[f"top10_mark_precision_rank{rank}_fraction"]
            at_rank = marked[marked["rank"] == rank]["match"].astype(bool)
            if np.isnan(promised):
                assert at_rank.empty, (runtime, rank)
            else:
                assert at_rank.mean() == pytest.approx(promised, abs=1e-12), (runtime, rank)
        assert len(marked) / len(ranked) == pytest.approx(
            evaluated["top10_marked_fraction"], abs=1e-12
        ), runtime
        assert marked["match"].astype(bool).mean() >= 0.95, runtime
        page = (results / "index.html").read_text()
        assert "Marked results that were the same person, by rank: 1: " in page
        assert f"cosine distance below {threshold:.6f}" in output
        assert "camera left out, as the ReID protocol does" in page
    # The threshold sits between two of the evaluation's distances, none on it.
    assert not (ranked["distance"] == threshold).any()


def test_a_tracker_layout_export_embeds_crops_as_trackers_prepare_them(
    trained, market_root, tmp_path
):
    """export.py --layout tracker: the ONNX model takes what BoxMOT's ONNX ReID backend feeds it
    (BGR crops resized with cv2's bilinear resize, turned RGB, /255, minus the ImageNet mean,
    over its standard deviation, (n, 3, H, W) float32, H and W fixed in the graph), and gives
    the Keras model's flip-averaged embedding of the same crops."""
    import onnxruntime

    _, run_folder, returncode, _ = trained
    assert returncode == 0
    onnx_path = str(tmp_path / "tracker.onnx")
    returncode, output = run_export(
        run_folder, onnx_path, ["--layout", "tracker", "--use_horizontal_flipping_in_evaluation"]
    )
    assert returncode == 0, output[-3000:]
    with open(tmp_path / "tracker.json") as description_file:
        description = json.load(description_file)
    assert description["layout"] == "tracker" and description["flip_averaged"] is True
    session = onnxruntime.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    (graph_input,) = session.get_inputs()
    assert graph_input.shape[1:] == [3, 64, 32] and not isinstance(graph_input.shape[0], int)

    # Crops of different sizes cut from a gallery image, prepared as a tracker does.
    folder = os.path.join(market_root, "Market-1501-v15.09.15", "bounding_box_test")
    frames = (cv2.imread(os.path.join(folder, name)) for name in sorted(os.listdir(folder)))
    frame = next(image for image in frames if image is not None)  # one image is damaged
    crops = [frame, frame[10:, 3:], frame[:50, :20], cv2.resize(frame, (97, 211))]
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    rgb = np.stack(
        [
            cv2.cvtColor(cv2.resize(c, (32, 64), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
            for c in crops
        ]
    )
    tracker_batch = ((rgb / 255.0 - mean) / std).astype(np.float32).transpose(0, 3, 1, 2)
    (found,) = session.run(None, {graph_input.name: tracker_batch})

    model = applications.load_inference_model(os.path.join(run_folder, "inference_model.h5"))
    pixels = rgb.astype(np.float32)
    expected = (
        np.concatenate([o.numpy() for o in model(pixels, training=False)], axis=-1)
        + np.concatenate([o.numpy() for o in model(pixels[:, :, ::-1], training=False)], axis=-1)
    ) / 2
    assert found.shape == expected.shape == (4, description["embedding_dimension"])
    bound = 1e-5 * np.abs(expected).max()
    assert np.abs(found - expected).max() <= bound, (np.abs(found - expected).max(), bound)


def test_a_centred_export_subtracts_the_mean_embedding_of_the_images_it_was_given(
    trained, market_root, tmp_path
):
    """--center_on_images_path: the export gives the Keras model's flip-averaged embedding minus
    the mean of the chosen images' embeddings (--center_on_image_num of them, evenly spaced in
    name order), all computed here plainly; the distances spread as trackers expect; the
    description says what it was centred on and carries no same-person thresholds."""
    import onnxruntime

    from datasets.image_files import read_image

    _, run_folder, returncode, _ = trained
    assert returncode == 0
    train = os.path.join(market_root, "Market-1501-v15.09.15", "bounding_box_train")
    folder = tmp_path / "centring"
    folder.mkdir()
    readable = (
        n for n in sorted(os.listdir(train)) if cv2.imread(os.path.join(train, n)) is not None
    )
    names = [next(readable) for _ in range(12)]  # the fixture damages an image or two
    for name in names:
        shutil.copy(os.path.join(train, name), folder / name)
    (folder / "notes.txt").write_text("not an image")
    onnx_path = str(tmp_path / "centred.onnx")
    returncode, output = run_export(
        run_folder,
        onnx_path,
        [
            "--layout",
            "tracker",
            "--center_on_images_path",
            str(folder),
            "--center_on_image_num",
            "5",
        ],
    )
    assert returncode == 0, output[-3000:]
    assert "the mean embedding of 5 images" in output
    with open(tmp_path / "centred.json") as description_file:
        description = json.load(description_file)
    assert description["centered_on"]["image_num"] == 5 and "same_person" not in description

    model = applications.load_inference_model(os.path.join(run_folder, "inference_model.h5"))

    def flip_averaged(pixels):
        return (
            np.concatenate([o.numpy() for o in model(pixels, training=False)], axis=-1)
            + np.concatenate([o.numpy() for o in model(pixels[:, :, ::-1], training=False)], -1)
        ) / 2

    chosen = [names[round(index * 11 / 4)] for index in range(5)]  # 0, 3, 6, 8, 11
    centring = np.stack([read_image(str(folder / name), 64, 32) for name in chosen])
    mean = flip_averaged(centring.astype(np.float32)).astype(np.float64).mean(axis=0)

    images = np.stack([read_image(os.path.join(train, name), 64, 32) for name in names[:6]])
    expected = flip_averaged(images.astype(np.float32)) - mean
    session = onnxruntime.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    normalised = (images / 255.0 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    (found,) = session.run(None, {"images": normalised.astype(np.float32).transpose(0, 3, 1, 2)})
    scale = np.abs(flip_averaged(images.astype(np.float32))).max()
    assert np.abs(found - expected).max() <= 1e-5 * scale, np.abs(found - expected).max()
    # Embeddings of one sign are within a few hundredths of each other in cosine distance;
    # centred, they spread.
    unit = found / np.linalg.norm(found, axis=1, keepdims=True)
    assert (1 - unit @ unit.T).max() > 0.5
