"""Video ReID: the loaders on generated stand-ins in each dataset's real layout, and evaluation on
tracklets against MARS's published rules written out as a plain loop."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPOSITORY
from scipy.io import loadmat, savemat

from datasets import DatasetCountWarning, DatasetError
from datasets.video import load_video_dataset
from datasets.video.standins import (
    write_dukemtmc_video,
    write_ilids_vid,
    write_mars,
    write_prid2011,
    write_standins,
)
from evaluation import evaluate_features
from evaluation.tracklets import (
    TrackletPooler,
    evenly_spaced_positions,
    pool_tracklet_features,
    sample_tracklets,
)

pytestmark = pytest.mark.filterwarnings("ignore::datasets.common.DatasetCountWarning")


@pytest.fixture(scope="module")
def standins(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("video"))
    write_standins(root)
    return root


def tracklet_counts(frame):
    return frame["tracklet_ID"].nunique(), frame["identity_ID"].nunique()


def test_mars_standin_is_read_as_mars_evaluation_code_reads_it(standins):
    train_df, query_df, gallery_df = load_video_dataset(standins, "MARS")
    info = os.path.join(standins, "mars", "info")
    test_tracks = loadmat(os.path.join(info, "tracks_test_info.mat"))["track_test_info"]
    query_rows = loadmat(os.path.join(info, "query_IDX.mat"))["query_IDX"].reshape(-1)
    assert tracklet_counts(train_df) == (16, 8)
    # Gallery: every test tracklet but the junk ones (identity -1), the queries included.
    assert gallery_df["tracklet_ID"].nunique() == int((test_tracks[:, 2] != -1).sum())
    assert sorted(query_df["tracklet_ID"].unique()) == sorted(query_rows.tolist())
    assert set(query_df["tracklet_ID"]) <= set(gallery_df["tracklet_ID"])
    assert -1 not in set(gallery_df["identity_ID"]) | set(query_df["identity_ID"])
    assert 0 in set(gallery_df["identity_ID"]) and 0 not in set(query_df["identity_ID"])
    frames_per_row = test_tracks[:, 1] - test_tracks[:, 0] + 1
    assert len(gallery_df) == int(frames_per_row[test_tracks[:, 2] != -1].sum())
    for path, identity, camera in gallery_df[
        ["image_file_path", "identity_ID", "camera_ID"]
    ].values:
        name = os.path.basename(path)
        assert os.path.isfile(path) and name.startswith(f"{identity:04d}C{camera}T")
        assert os.path.basename(os.path.dirname(path)) == f"{identity:04d}"


@pytest.mark.parametrize(
    "name, train, query, gallery",
    [
        # (tracklets, identities) of each split
        ("iLIDS_VID", (12, 6), (6, 6), (6, 6)),
        ("PRID2011_video", (200, 100), (100, 100), (100, 100)),
        ("DukeMTMC_VideoReID", (12, 6), (4, 4), None),
    ],
)
def test_each_standin_is_read_with_its_counts(standins, name, train, query, gallery):
    train_df, query_df, gallery_df = load_video_dataset(standins, name)
    assert tracklet_counts(train_df) == train and tracklet_counts(query_df) == query
    if gallery is not None:
        assert tracklet_counts(gallery_df) == gallery
    assert set(train_df["identity_ID"]).isdisjoint(query_df["identity_ID"])
    if name != "DukeMTMC_VideoReID":  # queries from the first camera, gallery the second
        assert set(query_df["camera_ID"]) == {1} and set(gallery_df["camera_ID"]) == {2}
        assert set(query_df["identity_ID"]) == set(gallery_df["identity_ID"])
    else:  # 4 test identities with 1 or 2 tracklets each, and 2 distractor identities
        assert gallery_df["identity_ID"].nunique() == 6
        assert set(query_df["tracklet_ID"]).isdisjoint(gallery_df["tracklet_ID"])
    for frame in (train_df, query_df, gallery_df):
        assert frame.groupby("tracklet_ID")[["identity_ID", "camera_ID"]].nunique().max().max() == 1
        assert all(os.path.isfile(path) for path in frame["image_file_path"])


def test_prid2011_uses_only_the_200_people_of_both_cameras_and_the_shipped_splits(standins):
    splits = [load_video_dataset(standins, "PRID2011_video", split_index=i) for i in (0, 9)]
    for train_df, query_df, _ in splits:
        people = set(train_df["identity_ID"]) | set(query_df["identity_ID"])
        assert people == set(range(1, 201))
    assert set(splits[0][1]["identity_ID"]) != set(splits[1][1]["identity_ID"])


def test_ilids_vid_splits_come_from_its_own_split_file(standins):
    splits_file = os.path.join(
        standins, "ilids-vid", "train-test people splits", "train_test_splits_ilidsvid.mat"
    )
    order = loadmat(splits_file)["ls_set"][3].astype(int)
    people = sorted(os.listdir(os.path.join(standins, "ilids-vid", "i-LIDS-VID/sequences/cam1")))
    expected_test = {int(people[position - 1][len("person") :]) for position in order[:6]}
    _, query_df, _ = load_video_dataset(standins, "iLIDS_VID", split_index=3)
    assert set(query_df["identity_ID"]) == expected_test
    with pytest.raises(DatasetError, match="splits 0 to 9"):
        load_video_dataset(standins, "iLIDS_VID", split_index=10)


def test_the_official_counts_are_named_when_a_copy_differs(standins):
    with pytest.warns(DatasetCountWarning, match="MARS train: found 16 tracklets.*8298"):
        load_video_dataset(standins, "MARS")


@pytest.mark.parametrize(
    "name, write, breaks, expected",
    [
        ("MARS", write_mars, "info/query_IDX.mat", r"the file '.*mars/info/query_IDX\.mat'"),
        ("MARS", write_mars, "bbox_test", r"the folder '.*mars/bbox_test', which does not"),
        ("iLIDS_VID", write_ilids_vid, "train-test people splits", "train_test_splits_ilidsvid"),
        (
            "PRID2011_video",
            write_prid2011,
            "prid_2011/multi_shot/cam_b",
            r"multi_shot/cam_b', which",
        ),
        ("DukeMTMC_VideoReID", write_dukemtmc_video, "DukeMTMC-VideoReID/gallery", "gallery'"),
    ],
)
def test_a_broken_layout_is_refused_with_the_path_and_what_to_do(
    tmp_path, name, write, breaks, expected
):
    folder_name = {
        "MARS": "mars",
        "iLIDS_VID": "ilids-vid",
        "PRID2011_video": "prid2011",
        "DukeMTMC_VideoReID": "dukemtmc-vidreid",
    }[name]
    write(str(tmp_path / folder_name))
    broken = tmp_path / folder_name / breaks
    shutil.rmtree(broken) if broken.is_dir() else broken.unlink()
    with pytest.raises(DatasetError, match=expected) as raised:
        load_video_dataset(str(tmp_path), name)
    message = str(raised.value)
    assert "Expected layout under --root_folder_path" in message and "--root_folder_path" in message


def test_a_mars_name_list_that_does_not_fit_its_table_is_named(tmp_path):
    write_mars(str(tmp_path / "mars"))
    names_path = tmp_path / "mars" / "info" / "test_name.txt"
    names = names_path.read_text().split()
    names_path.write_text("\n".join(names[1:]) + "\n")  # every row now points one frame off
    with pytest.raises(DatasetError, match="does not fit its tracklet"):
        load_video_dataset(str(tmp_path), "MARS")


def test_a_mars_table_of_another_shape_is_named(tmp_path):
    write_mars(str(tmp_path / "mars"))
    savemat(str(tmp_path / "mars" / "info" / "tracks_test_info.mat"), {"track_test_info": [[1, 2]]})
    with pytest.raises(DatasetError, match=r"4 columns .* shape \(1, 2\)"):
        load_video_dataset(str(tmp_path), "MARS")


def test_evenly_spaced_positions():
    assert evenly_spaced_positions(10, 4).tolist() == [0, 3, 6, 9]
    assert evenly_spaced_positions(3, 4).tolist() == [0, 1, 2]  # shorter: all, none repeated
    assert evenly_spaced_positions(5, 0).tolist() == [0, 1, 2, 3, 4]  # 0: every frame
    assert evenly_spaced_positions(7, 1).tolist() == [0]
    for frame_num in range(1, 40):
        for length in range(1, 12):
            positions = evenly_spaced_positions(frame_num, length)
            assert len(set(positions.tolist())) == len(positions) == min(frame_num, length)


# A hand-made MARS test set: (identity, camera, direction in degrees of its frames' mean); rows
# are 1-based as in tracks_test_info.mat. Queries: rows 2, 6 and 7 (one per identity and camera,
# as MARS's query_IDX): row 6 is a true match of query 7, which MARS's gallery keeps.
HAND_TRACKS = [
    (-1, 1, 0),
    (5, 1, 0),
    (5, 2, 30),
    (5, 1, 0),
    (0, 2, 10),
    (7, 2, 90),
    (7, 3, 80),
    (7, 1, 20),
]
HAND_QUERY_ROWS = [2, 6, 7]


def write_hand_made_mars(root):
    """The tracks above, 3 frames each, at their direction -20, +0 and +20 degrees (the mean
    points at the direction; no single frame does but the middle one)."""
    base = os.path.join(root, "mars")
    names, rows, vectors = [], [], {}
    for row, (identity, camera, degrees) in enumerate(HAND_TRACKS, start=1):
        identity_text = "00-1" if identity == -1 else f"{identity:04d}"
        rows.append([len(names) + 1, len(names) + 3, identity, camera])
        for frame, offset in enumerate((-20, 0, 20), start=1):
            name = f"{identity_text}C{camera}T{row:04d}F{frame:03d}.jpg"
            names.append(name)
            path = os.path.join(base, "bbox_test", identity_text, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, "wb").close()
            angle = np.radians(degrees + offset)
            vectors[path] = np.array([np.cos(angle), np.sin(angle)])
    train_name = "0001C1T0001F001.jpg"
    os.makedirs(os.path.join(base, "bbox_train", "0001"))
    open(os.path.join(base, "bbox_train", "0001", train_name), "wb").close()
    os.makedirs(os.path.join(base, "info"))
    with open(os.path.join(base, "info", "train_name.txt"), "w") as names_file:
        names_file.write(train_name + "\n")
    with open(os.path.join(base, "info", "test_name.txt"), "w") as names_file:
        names_file.write("\n".join(names) + "\n")
    savemat(
        os.path.join(base, "info", "tracks_train_info.mat"), {"track_train_info": [[1, 1, 1, 1]]}
    )
    savemat(os.path.join(base, "info", "tracks_test_info.mat"), {"track_test_info": np.array(rows)})
    savemat(os.path.join(base, "info", "query_IDX.mat"), {"query_IDX": np.array([HAND_QUERY_ROWS])})
    return vectors


def mars_rules_reference(vectors, test_names_by_row):
    """MARS's evaluation (evaluation_mars.m) as a plain loop: the gallery is every test
    tracklet; for each query, junk (identity -1) and its identity in its camera are left out;
    a tracklet's feature is the mean of its frames'; cosine distance; ties by row. AP as in
    this project (the mean of the precisions at the true matches). Returns (cmc, mAP)."""
    features = {}
    for row, paths in test_names_by_row.items():
        total = np.zeros(2)
        for path in paths:
            total = total + vectors[path]
        features[row] = total / len(paths)
    average_precisions, first_match_ranks = [], []
    for query_row in HAND_QUERY_ROWS:
        query_identity, query_camera, _ = HAND_TRACKS[query_row - 1]
        ranked = []
        for row in range(1, len(HAND_TRACKS) + 1):
            identity, camera, _ = HAND_TRACKS[row - 1]
            if identity == -1 or (identity == query_identity and camera == query_camera):
                continue
            a, b = features[query_row], features[row]
            distance = 1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
            ranked.append((distance, row, identity == query_identity))
        ranked.sort()
        match_ranks = [rank for rank, (_, _, good) in enumerate(ranked, start=1) if good]
        average_precisions.append(
            np.mean([found / rank for found, rank in enumerate(match_ranks, start=1)])
        )
        first_match_ranks.append(match_ranks[0])
    cmc = [np.mean([first <= rank for first in first_match_ranks]) for rank in range(1, 21)]
    return np.array(cmc), float(np.mean(average_precisions))


@pytest.mark.parametrize("sequence_length", [0, 2, 3])
def test_tracklet_evaluation_follows_mars_rules(tmp_path, sequence_length):
    vectors = write_hand_made_mars(str(tmp_path))
    _, query_df, gallery_df = load_video_dataset(str(tmp_path), "MARS")
    features = {}
    for split, frame in (("query", query_df), ("gallery", gallery_df)):
        sampled = sample_tracklets(frame, sequence_length)
        frame_features = np.array([vectors[path] for path in sampled.frame_paths])
        features[split] = (
            pool_tracklet_features(frame_features, sampled.frame_tracklet_rows),
            sampled.tracklets,
        )
    (query_features, queries), (gallery_features, gallery) = features["query"], features["gallery"]
    assert queries["tracklet_ID"].tolist() == HAND_QUERY_ROWS
    assert gallery["tracklet_ID"].tolist() == [2, 3, 4, 5, 6, 7, 8]  # junk row 1 left out
    results = evaluate_features(
        query_features,
        gallery_features,
        q_pids=queries["identity_ID"].to_numpy(),
        g_pids=gallery["identity_ID"].to_numpy(),
        q_camids=queries["camera_ID"].to_numpy(),
        g_camids=gallery["camera_ID"].to_numpy(),
    ).ranking["plain"]
    names_by_row = {
        row: sorted(p for p in vectors if f"T{row:04d}F" in os.path.basename(p))
        for row in range(1, len(HAND_TRACKS) + 1)
    }
    cmc, mAP = mars_rules_reference(vectors, names_by_row)
    np.testing.assert_allclose(results.cmc, cmc)
    np.testing.assert_allclose(results.mAP, mAP)
    # By hand: query row 2 (0 degrees) ranks the distractor (10), row 8 (20), then its match
    # row 3 (30): AP 1/3; rows 1 (junk) and 4 (its own camera) are left out. Query row 6 (90)
    # ranks row 7 (80) first and row 8 (20) third: AP (1 + 2/3) / 2 = 5/6. Query row 7 (80)
    # ranks the query row 6 (90) first, row 3 (30) second and row 8 third: AP 5/6 (1/2 with the
    # query tracklets left out of the gallery, as torchreid does).
    assert results.mAP == pytest.approx((1 / 3 + 5 / 6 + 5 / 6) / 3)
    assert results.cmc[0] == pytest.approx(2 / 3) and results.cmc[2] == 1.0
    assert results.valid_query_num == 3


def test_pooling_is_the_mean_of_each_tracklets_frames():
    frame_features = np.array([[1.0, 0], [3, 2], [5, 5], [0, 4]])
    pooled = pool_tracklet_features(frame_features, np.array([0, 0, 1, 0]))
    np.testing.assert_allclose(pooled, [[4 / 3, 2], [5, 5]])
    with pytest.raises(ValueError, match="at least one frame"):
        pool_tracklet_features(frame_features, np.array([0, 0, 2, 0]))
    pooler = TrackletPooler(np.array([0, 0, 1, 0]))
    pooler.add(frame_features[:1])
    with pytest.raises(ValueError, match="1 of 4 frame features were added"):
        pooler.result()
    pooler.add(frame_features[1:3])
    pooler.add(frame_features[3:])  # batches that end inside a tracklet
    np.testing.assert_allclose(pooler.result(), [[4 / 3, 2], [5, 5]])
    with pytest.raises(ValueError, match="5 frame features given for 4 frames"):
        pooler.add(frame_features[:1])


def test_video_modules_import_no_tensorflow():
    code = (
        "import sys, datasets.video, datasets.video.standins, evaluation.tracklets\n"
        "print('tensorflow' in sys.modules)"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], cwd=REPOSITORY, capture_output=True, text=True, timeout=120
    )
    assert output.returncode == 0, output.stderr[-2000:]
    assert output.stdout.strip().splitlines()[-1] == "False"


def test_the_evaluator_embeds_a_tracklet_as_the_mean_of_its_frames_flip_averaged(standins):
    """callbacks/evaluator.py on MARS's stand-in with a small model whose embedding changes
    under mirroring: each query tracklet's feature is the mean, over its evenly sampled frames,
    of the mean of the frame's and its mirror's embeddings, computed here frame by frame."""
    import tensorflow_setup  # noqa: F401, I001
    import keras

    from callbacks import Evaluator
    from datasets.image_files import read_image
    from settings import EvaluationSettings

    inputs = keras.Input((64, 32, 3))
    flat = keras.layers.Flatten()(keras.layers.AveragePooling2D(8)(inputs))
    outputs = [
        keras.layers.Dense(3, kernel_initializer=keras.initializers.RandomNormal(seed=1))(flat)
    ]
    model = keras.Model(inputs, outputs)
    _, query_df, gallery_df = load_video_dataset(standins, "MARS")
    evaluator = Evaluator(
        model,
        query_df=query_df,
        gallery_df=gallery_df,
        settings=EvaluationSettings(use_horizontal_flipping_in_evaluation=True, sequence_length=2),
        output_folder_path=standins,
        workers=1,
        batch_size=3,  # batches that end inside tracklets
    )
    features, image_num = evaluator.embed("query")
    tracklet_IDs = query_df["tracklet_ID"].unique()
    assert features.shape == (len(tracklet_IDs), 3) and image_num == 2 * len(tracklet_IDs)
    assert evaluator.query_df["tracklet_ID"].tolist() == tracklet_IDs.tolist()
    for row, tracklet_ID in enumerate(tracklet_IDs):
        paths = query_df.loc[query_df["tracklet_ID"] == tracklet_ID, "image_file_path"].tolist()
        frame_embeddings = []
        for path in (paths[0], paths[-1]):  # 2 frames spread evenly: the first and the last
            image = read_image(path, 64, 32).astype(np.float32)
            both = model.predict(np.stack([image, image[:, ::-1]]), verbose=0)
            frame_embeddings.append((both[0] + both[1]) / 2)
        np.testing.assert_allclose(
            features[row], np.mean(frame_embeddings, axis=0), rtol=1e-5, atol=1e-6
        )
        assert evaluator.query_df["image_file_path"][row] == paths[0]
    flipped_only = model.predict(read_image(paths[0], 64, 32)[None].astype(np.float32), verbose=0)
    assert not np.allclose(flipped_only[0], frame_embeddings[0], atol=1e-4)  # flipping matters


@pytest.mark.slow
def test_solution_trains_on_mars_frames_and_evaluates_on_tracklets(standins, tmp_path):
    from conftest import SHRUNK, run_solution

    returncode, output = run_solution(
        [
            "--dataset_name",
            "MARS",
            "--root_folder_path",
            standins,
            *SHRUNK,
            "--freeze_backbone_for_N_epochs",
            "0",
            "--epoch_num",
            "1",
            "--steps_per_epoch",
            "1",
            "--evaluate_testing_every_N_epochs",
            "1",
            # the cheaper training graph: the wiring of frames and tracklets is the same
            "--nouse_horizontal_flipping_inside_model",
            "--use_horizontal_flipping_in_evaluation",
            "--sequence_length",
            "4",
            "--save_data_to_disk",
            "--output_folder_path",
            str(tmp_path),
        ]
    )
    assert returncode == 0, output[-3000:]
    _, query_df, gallery_df = load_video_dataset(standins, "MARS")
    query_num, gallery_num = query_df["tracklet_ID"].nunique(), gallery_df["tracklet_ID"].nunique()
    sampled_num = sum(
        min(4, count)
        for frame in (query_df, gallery_df)
        for count in frame.groupby("tracklet_ID").size()
    )
    assert (
        f"features of {sampled_num} images pooled into {query_num + gallery_num} tracklets"
        in output
    )
    run_folder = tmp_path / "MARS_resnet18"
    features = np.load(run_folder / "features_epoch_1.npz")
    assert features["query_features"].shape == (query_num, 512 + 256 + 256)
    assert len(features["gallery_features"]) == gallery_num
    assert (features["gallery_identity_IDs"] != -1).all()
    history = (run_folder / "history.csv").read_text()
    assert "test_mAP_fraction" in history and (run_folder / "inference_model.h5").is_file()


def test_testing_size_keeps_or_drops_a_distractor_tracklet_whole():
    import pandas as pd

    from datasets import select_testing_subset

    rows = [
        (
            f"{identity}_{tracklet}_{frame}.jpg",
            identity,
            1 + tracklet % 2,
            100 * identity + tracklet,
        )
        for identity in (0, 1, 2, 3, 4)
        for tracklet in range(8 if identity == 0 else 2)
        for frame in range(5)
    ]
    gallery_df = pd.DataFrame(
        rows, columns=["image_file_path", "identity_ID", "camera_ID", "tracklet_ID"]
    )
    query_df = gallery_df[gallery_df["identity_ID"] > 0].reset_index(drop=True)
    _, kept = select_testing_subset(query_df, gallery_df, 0.5, seed=0)
    frames_per_kept_tracklet = kept.groupby("tracklet_ID").size()
    assert (frames_per_kept_tracklet == 5).all(), frames_per_kept_tracklet.to_dict()
    assert kept["identity_ID"].nunique() >= 2 and (kept["identity_ID"] == 0).any()


def test_the_shipped_prid2011_splits_are_those_the_script_draws():
    import json

    from datasets.video.draw_prid2011_splits import draw_splits
    from datasets.video.two_cameras import PRID2011_SPLITS_PATH

    with open(PRID2011_SPLITS_PATH) as splits_file:
        shipped = json.load(splits_file)
    assert shipped == draw_splits() and len(shipped["splits"]) == 10
    everyone = {f"person_{number:04d}" for number in range(1, 201)}
    for split in shipped["splits"]:
        assert len(split["train"]) == len(split["test"]) == 100
        assert set(split["train"]) | set(split["test"]) == everyone
    assert len({tuple(split["test"]) for split in shipped["splits"]}) == 10
