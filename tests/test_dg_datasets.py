"""The domain-generalisation datasets: the loaders of VIPeR, GRID, PRID2011, QMUL-iLIDS, CUHK02
and CUHK-SYSU on generated stand-ins in their real layouts, the shipped fixed splits, training on
several datasets at once (identities kept apart, batches from one dataset), --combineall, and
the single-dataset path unchanged."""

import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import SHRUNK, TINY_SYNTHETIC, run_solution
from layout_copies import write_dukemtmc_reid
from scipy.io import savemat

from datasets import DatasetCountWarning, DatasetError, load_accumulated_info_of_dataset
from datasets.fixed_splits import SPLIT_DATASETS, draw_splits, format_split_file, split_file_path
from datasets.run_datasets import load_testing_sets, load_training_datasets
from datasets.sampling import TooFewIdentitiesError, iterate_identity_batches
from datasets.stand_ins import write_stand_in
from datasets.synthetic import generate_synthetic_dataset
from settings import DatasetSettings, SamplingSettings, SettingsError

DG_NAMES = ("VIPeR", "GRID", "PRID2011", "iLIDS", "CUHK02", "CUHK_SYSU")


@pytest.fixture(scope="module")
def stand_in_root(tmp_path_factory):
    """All six stand-ins (about 3 s), written once for the module."""
    root = str(tmp_path_factory.mktemp("dg"))
    for name in DG_NAMES:
        write_stand_in(root, name)
    return root


def copy_of(stand_in_root, tmp_path, folder_name):
    """A copy of one stand-in to break: its folders, with links to its files (cheap)."""
    shutil.copytree(
        os.path.join(stand_in_root, folder_name), tmp_path / folder_name, copy_function=os.symlink
    )
    return tmp_path


def load(root, name, split_index=0):
    train_df, query_df, gallery_df, _ = load_accumulated_info_of_dataset(
        str(root), name, split_index=split_index
    )
    return train_df, query_df, gallery_df


def shape(frame):
    """(images, identities, cameras) of one frame."""
    return len(frame), frame["identity_ID"].nunique(), frame["camera_ID"].nunique()


def test_viper_stand_in_reads_as_the_real_one(stand_in_root, recwarn):
    train_df, query_df, gallery_df = load(stand_in_root, "VIPeR", split_index=4)
    assert shape(train_df) == (632, 316, 2)  # both images of 316 people
    assert shape(query_df) == (316, 316, 1) and set(query_df["camera_ID"]) == {1}  # cam_a
    assert shape(gallery_df) == (316, 316, 1) and set(gallery_df["camera_ID"]) == {2}  # cam_b
    assert set(query_df["identity_ID"]) == set(gallery_df["identity_ID"])
    assert not set(train_df["identity_ID"]) & set(query_df["identity_ID"])
    assert all(path.endswith(".bmp") for path in train_df["image_file_path"])
    with open(split_file_path("viper")) as split_file:  # the shipped file decides who is who
        assert sorted(set(train_df["identity_ID"])) == json.load(split_file)["splits"][4]["train"]
    assert not [w for w in recwarn if issubclass(w.category, DatasetCountWarning)]


def test_viper_broken_layout(stand_in_root, tmp_path):
    root = copy_of(stand_in_root, tmp_path, "viper")
    shutil.rmtree(root / "viper" / "VIPeR" / "cam_b")
    with pytest.raises(DatasetError) as error:
        load(root, "VIPeR")
    message = str(error.value)
    assert "VIPeR/cam_b'" in message and "does not exist" in message
    assert "viper/VIPeR/cam_a/*.bmp" in message and "VIPeR.v1.0.zip" in message


def test_viper_missing_people_are_named(stand_in_root, tmp_path):
    root = copy_of(stand_in_root, tmp_path, "viper")
    cam_a = root / "viper" / "VIPeR" / "cam_a"
    (removed,) = [name for name in os.listdir(cam_a) if name.startswith("005_")]
    os.remove(cam_a / removed)
    with pytest.warns(DatasetCountWarning, match="found 631 images"):
        with pytest.raises(DatasetError, match=r"(?s)names 1 identities.*cam_a: 5\b"):
            load(root, "VIPeR")


def write_grid_mat(path, training_identities_of_splits):
    """GRID's features_and_partitions.mat as a hand-made reference: trainIdxAll, a 1 x 10 cell
    array of structs whose third field holds the training identities."""
    if os.path.lexists(path):
        os.remove(path)  # a link to the shared stand-in's file: replace the link, not the file
    cells = np.empty((1, len(training_identities_of_splits)), dtype=object)
    for index, identities in enumerate(training_identities_of_splits):
        cells[0, index] = {
            "a": np.zeros((1, 1)),
            "b": np.zeros((1, 1)),
            "c": np.array(identities, dtype=np.float64)[None],
        }
    savemat(path, {"trainIdxAll": cells})


def test_grid_reads_the_split_of_its_mat_file(stand_in_root, tmp_path, recwarn):
    root = copy_of(stand_in_root, tmp_path, "grid")
    splits = [list(range(1 + k, 126 + k)) for k in range(10)]  # split k: people k+1 .. k+125
    write_grid_mat(root / "grid" / "underground_reid" / "features_and_partitions.mat", splits)
    train_df, query_df, gallery_df = load(root, "GRID", split_index=7)
    assert sorted(set(train_df["identity_ID"])) == list(range(8, 133))
    assert shape(train_df)[:2] == (250, 125)  # their probe and gallery images
    assert shape(query_df)[:2] == (125, 125)
    assert sorted(set(query_df["identity_ID"])) == [*range(1, 8), *range(133, 251)]
    assert len(gallery_df) == 125 + 775  # their gallery images and the distractors
    assert (gallery_df["identity_ID"] == 0).sum() == 775
    assert train_df["camera_ID"].between(1, 8).all()
    assert not [w for w in recwarn if issubclass(w.category, DatasetCountWarning)]


def test_grid_broken_layout_and_mat_file(stand_in_root, tmp_path):
    root = copy_of(stand_in_root, tmp_path, "grid")
    mat_path = root / "grid" / "underground_reid" / "features_and_partitions.mat"
    write_grid_mat(mat_path, [list(range(1, 100))] * 10)  # 99 training identities, not 125
    with pytest.raises(DatasetError, match=r"99 training identities.*trainIdxAll"):
        load(root, "GRID")
    os.remove(mat_path)
    with pytest.raises(DatasetError, match=r"(?s)features_and_partitions.mat'.*does not exist"):
        load(root, "GRID")


def test_prid2011_stand_in_reads_as_the_real_one(stand_in_root):
    train_df, query_df, gallery_df = load(stand_in_root, "PRID2011", split_index=2)
    assert shape(train_df) == (200, 100, 2)
    assert shape(query_df) == (100, 100, 1)  # cam_a of the 100 test people
    assert len(gallery_df) == 100 + 549  # cam_b of them and of the people only cam_b saw
    test_people = set(query_df["identity_ID"])
    assert test_people | set(train_df["identity_ID"]) == set(range(1, 201))
    assert set(gallery_df["identity_ID"]) == test_people | set(range(201, 750))


def test_prid2011_broken_layout(stand_in_root, tmp_path):
    root = copy_of(stand_in_root, tmp_path, "prid2011")
    (root / "prid2011" / "prid_2011" / "single_shot" / "cam_a" / "person_0007.png").rename(
        root / "prid2011" / "prid_2011" / "single_shot" / "cam_a" / "holiday.png"
    )
    with pytest.raises(DatasetError, match=r"holiday\.png.*person_0001\.png"):
        load(root, "PRID2011")


def test_ilids_stand_in_reads_as_the_real_one(stand_in_root):
    train_df, query_df, gallery_df = load(stand_in_root, "iLIDS", split_index=9)
    assert shape(train_df)[:2] == (59 * 4, 59)  # the stand-in has 4 images per person
    assert shape(query_df)[:2] == (60, 60) and shape(gallery_df)[:2] == (60, 60)
    for identity, query_path in zip(
        query_df["identity_ID"], query_df["image_file_path"], strict=True
    ):
        names = sorted(
            name
            for name in os.listdir(os.path.dirname(query_path))
            if name.startswith(f"{identity:04d}")
        )
        gallery_path = gallery_df.loc[gallery_df["identity_ID"] == identity, "image_file_path"]
        assert os.path.basename(query_path) == names[0]  # the first image of the person
        assert os.path.basename(gallery_path.item()) == names[1]  # the second


def test_ilids_broken_layout(stand_in_root, tmp_path):
    root = copy_of(stand_in_root, tmp_path, "ilids")
    os.rename(root / "ilids" / "i-LIDS_Pedestrian", root / "ilids" / "elsewhere")
    with pytest.raises(DatasetError, match=r"(?s)i-LIDS_Pedestrian/Persons'.*does not exist"):
        load(root, "iLIDS")


def test_cuhk02_stand_in(stand_in_root):
    with pytest.warns(DatasetCountWarning, match="CUHK02 train: found 48 images"):
        train_df, query_df, gallery_df = load(stand_in_root, "CUHK02")
    # 4 pairs x 3 people x 2 cameras x 2 images; P5 (people 50001..50003) tests.
    assert shape(train_df) == (48, 12, 8)
    assert set(query_df["identity_ID"]) == {50001, 50002, 50003} == set(gallery_df["identity_ID"])
    assert set(query_df["camera_ID"]) == {9} and set(gallery_df["camera_ID"]) == {10}


def test_cuhk02_broken_layout(stand_in_root, tmp_path):
    root = copy_of(stand_in_root, tmp_path, "cuhk02")
    shutil.rmtree(root / "cuhk02" / "Dataset" / "P3" / "cam2")
    with pytest.raises(DatasetError, match=r"(?s)P3/cam2'.*does not exist.*\{cam1,cam2\}"):
        load(root, "CUHK02")


def test_cuhk_sysu_stand_in_and_broken_layout(stand_in_root, tmp_path):
    with pytest.warns(DatasetCountWarning, match="found 23 images"):
        train_df, query_df, gallery_df = load(stand_in_root, "CUHK_SYSU")
    assert shape(train_df)[:2] == (2 + 3 + 4 + 2 + 3 + 4 + 2 + 3, 8)
    assert query_df.empty and gallery_df.empty  # for training only
    root = copy_of(stand_in_root, tmp_path, "cuhksysu")
    os.rename(root / "cuhksysu" / "cropped_images", root / "cuhksysu" / "images")
    with pytest.raises(DatasetError, match=r"(?s)cropped_images'.*does not exist"):
        load(root, "CUHK_SYSU")
    with pytest.raises(SettingsError, match="no test set"):
        DatasetSettings(dataset_name="Market1501", testing_dataset_names=("CUHK_SYSU",))


@pytest.mark.parametrize("file_stem", sorted(SPLIT_DATASETS))
def test_shipped_splits_are_the_drawn_ones_and_sound(file_stem):
    with open(split_file_path(file_stem)) as split_file:
        text = split_file.read()
    assert text == format_split_file(draw_splits(file_stem)), "re-drawing gives another file"
    splits = json.loads(text)["splits"]
    identity_num, train_num = {"viper": (632, 316), "prid2011": (200, 100), "ilids": (119, 59)}[
        file_stem
    ]
    assert len(splits) == 10
    for split in splits:
        train, test = set(split["train"]), set(split["test"])
        assert len(train) == len(split["train"]) == train_num
        assert len(test) == len(split["test"]) == identity_num - train_num
        assert not train & test
    assert len({tuple(split["train"]) for split in splits}) == 10  # ten different splits
    all_people = set(splits[0]["train"]) | set(splits[0]["test"])
    assert all(set(s["train"]) | set(s["test"]) == all_people for s in splits)
    if file_stem == "prid2011":
        assert all_people == set(range(1, 201))


def test_split_index_is_checked_and_test_sets_can_name_their_splits():
    with pytest.raises(SettingsError, match="--split_index must be between 0 and 9"):
        DatasetSettings(split_index=10)
    settings = DatasetSettings(
        dataset_name="Market1501+DukeMTMC_reID",  # "+" as "," (for sweep.py's --grid values)
        testing_dataset_names=("VIPeR_split7-9", "GRID", "iLIDS_split2@/elsewhere"),
        split_index=4,
    )
    assert settings.training_dataset_names == ("Market1501", "DukeMTMC_reID")
    for path in ("data/my+set.csv", "a,b.csv"):  # one CSV file whose name holds a separator
        assert DatasetSettings(dataset_name=path).training_dataset_names == (path,)
    assert DatasetSettings(dataset_name="a.csv+b.csv").training_dataset_names == ("a.csv", "b.csv")
    with pytest.raises(SettingsError, match="Unknown dataset_name 'Duke' in --dataset_name"):
        DatasetSettings(dataset_name="Market1501,Duke")
    assert [(s.label, s.dataset_name, s.split_index) for s in settings.testing_sources] == [
        ("VIPeR_split7", "VIPeR", 7),
        ("VIPeR_split8", "VIPeR", 8),
        ("VIPeR_split9", "VIPeR", 9),
        ("GRID_split4", "GRID", 4),  # --split_index
        ("iLIDS_split2", "iLIDS", 2),
    ]
    with pytest.raises(SettingsError, match="first split before the last"):
        DatasetSettings(testing_dataset_names=("VIPeR_split5-2",))
    trained_on_split_4 = DatasetSettings(dataset_name="VIPeR", split_index=4)
    assert [s.label for s in trained_on_split_4.testing_sources] == ["VIPeR_split4"]
    assert trained_on_split_4.label == "VIPeR_split4"


# Training on several datasets.


@pytest.fixture(scope="module")
def two_dataset_root(tmp_path_factory):
    """Market1501 and DukeMTMC-reID trees of different generated people (both numbered from
    the same range, so the same numbers are different people)."""
    root = tmp_path_factory.mktemp("two")
    market = generate_synthetic_dataset(str(root / "generated0"), TINY_SYNTHETIC)
    shutil.copytree(
        os.path.join(market, "Market-1501-v15.09.15"), root / "data" / "Market-1501-v15.09.15"
    )
    duke = generate_synthetic_dataset(
        str(root / "generated1"), TINY_SYNTHETIC.__class__(**{**vars(TINY_SYNTHETIC), "seed": 1})
    )
    write_dukemtmc_reid(str(root / "data"), os.path.join(duke, "Market-1501-v15.09.15"))
    return str(root / "data")


def plain_training_records(root, name):
    """A dataset's training records as a plain loop over its folder reads them (no code under
    test): (path, identity, camera), sorted by file name, junk (-1) left out."""
    folder = os.path.join(
        root,
        {"Market1501": "Market-1501-v15.09.15", "DukeMTMC_reID": "DukeMTMC-reID"}[name],
        "bounding_box_train",
    )
    records = []
    for file_name in sorted(os.listdir(folder)):
        identity, camera = file_name.split("_")[:2]
        if identity != "-1":
            records.append((os.path.join(folder, file_name), int(identity), int(camera[1])))
    return records


def training(root, **settings):
    return load_training_datasets(
        dataset=DatasetSettings(root_folder_path=root, **settings),
        synthetic=TINY_SYNTHETIC,
        workers=2,
    )


def test_one_dataset_trains_on_exactly_the_records_it_did(two_dataset_root, capsys):
    with pytest.warns(DatasetCountWarning):
        data = training(two_dataset_root, dataset_name="Market1501")
    expected = plain_training_records(two_dataset_root, "Market1501")
    assert list(data.train_df.itertuples(index=False, name=None)) == expected
    assert data.train_df["identity_ID"].dtype == np.int64
    assert data.dataset_of_rows is None
    assert list(data.identity_encoder.classes_) == sorted({i for _, i, _ in expected})
    assert "Training on" not in capsys.readouterr().out  # the one-dataset output as before


def test_two_datasets_keep_their_people_apart(two_dataset_root, capsys):
    with pytest.warns(DatasetCountWarning):
        data = training(two_dataset_root, dataset_name="Market1501,DukeMTMC_reID")
    market = plain_training_records(two_dataset_root, "Market1501")
    duke = plain_training_records(two_dataset_root, "DukeMTMC_reID")
    expected = [(p, f"Market1501_{i}", c) for p, i, c in market] + [
        (p, f"DukeMTMC_reID_{i}", c) for p, i, c in duke
    ]
    assert list(data.train_df.itertuples(index=False, name=None)) == expected
    assert data.dataset_of_rows.tolist() == [0] * len(market) + [1] * len(duke)
    identity_num = len({i for _, i, _ in market}) + len({i for _, i, _ in duke})
    assert len(data.identity_encoder.classes_) == identity_num
    assert set(data.test_sets) == {"Market1501", "DukeMTMC_reID"}
    output = capsys.readouterr().out
    assert "Training on 2 datasets" in output
    (total,) = [line.split() for line in output.splitlines() if line.startswith("total")]
    assert total == ["total", str(len(expected)), str(identity_num)]
    settings = DatasetSettings(dataset_name="Market1501,DukeMTMC_reID")
    assert settings.label == "Market1501+DukeMTMC_reID"  # the output folder's name
    assert [s.label for s in settings.testing_sources] == ["Market1501", "DukeMTMC_reID"]


def test_combineall_trains_on_the_test_people_and_refuses_to_test_on_them(two_dataset_root):
    with pytest.warns(DatasetCountWarning):
        data = training(
            two_dataset_root,
            dataset_name="Market1501",
            combineall=True,
            testing_dataset_names=("DukeMTMC_reID",),
        )
    folder = os.path.join(two_dataset_root, "Market-1501-v15.09.15")
    test_records = [
        (os.path.join(folder, split, name), name.split("_")[0])
        for split in ("query", "bounding_box_test")
        for name in sorted(os.listdir(os.path.join(folder, split)))
        if not name.startswith(("-1_", "0000_"))  # junk and distractors are nobody to learn
    ]
    train_num = len(plain_training_records(two_dataset_root, "Market1501"))
    assert len(data.train_df) == train_num + len(test_records)
    tail = data.train_df.iloc[train_num:]
    assert list(zip(tail["image_file_path"], tail["identity_ID"], strict=True)) == [
        (path, f"Market1501_test_{int(identity)}") for path, identity in test_records
    ]
    assert data.test_sets == {}
    for testing in ((), ("Market1501", "VIPeR")):
        with pytest.raises(SettingsError, match="--combineall trains on the query and gallery"):
            DatasetSettings(
                dataset_name="Market1501", combineall=True, testing_dataset_names=testing
            )
    DatasetSettings(dataset_name="Market1501", combineall=True, testing_size=0)  # no testing


def test_the_dg_targets_are_tested_on_with_their_split(stand_in_root):
    settings = DatasetSettings(
        root_folder_path=stand_in_root,
        dataset_name="Market1501",
        testing_dataset_names=("VIPeR", "PRID2011"),
        split_index=3,
    )
    testing_sets = load_testing_sets(
        dataset=settings, synthetic=TINY_SYNTHETIC, workers=2, training_test_sets=None
    )
    assert [(t.label, t.log_prefix) for t in testing_sets] == [
        ("VIPeR_split3", "test"),
        ("PRID2011_split3", "test_PRID2011_split3"),
    ]
    with open(split_file_path("viper")) as split_file:
        test_people = json.load(split_file)["splits"][3]["test"]
    assert sorted(testing_sets[0].query_df["identity_ID"]) == test_people


def reference_batches(identity_labels, identity_num_per_batch, image_num_per_identity, seed):
    """The P x K sampler as it was before several datasets (transcribed from datasets/sampling.py
    of commit 3c6bfe6): the single-dataset stream must stay exactly this."""
    labels, counts = np.unique(identity_labels, return_counts=True)
    usable = labels[counts >= image_num_per_identity]
    rng = np.random.default_rng(seed)
    rows_by_identity = {label: np.flatnonzero(identity_labels == label) for label in usable}
    pending = {label: [] for label in usable}
    while True:
        batch = []
        for label in rng.choice(usable, size=identity_num_per_batch, replace=False):
            if not pending[label]:
                rows = rng.permutation(rows_by_identity[label])
                chunk_num = len(rows) // image_num_per_identity
                pending[label] = list(
                    rows[: chunk_num * image_num_per_identity].reshape(chunk_num, -1)
                )
            batch.append(pending[label].pop())
        yield np.concatenate(batch)


def test_sampling_without_datasets_is_the_stream_it_was():
    labels = np.random.default_rng(5).integers(0, 30, size=400)
    found = iterate_identity_batches(labels, SamplingSettings(6, 4), seed=3)
    expected = reference_batches(labels, 6, 4, seed=3)
    for step in range(50):
        assert next(found).tolist() == next(expected).tolist(), f"batch {step}"


def test_one_dataset_per_batch_draws_each_batch_from_one_dataset():
    labels = np.repeat(np.arange(40), 5)  # identities 0..9 in dataset 0, 10..39 in dataset 1
    dataset_of_rows = np.where(labels < 10, 0, 1)
    batches = iterate_identity_batches(
        labels, SamplingSettings(4, 2), seed=0, dataset_of_rows=dataset_of_rows
    )
    from_first = 0
    for _ in range(400):
        datasets_in_batch = set(dataset_of_rows[next(batches)])
        assert len(datasets_in_batch) == 1
        from_first += datasets_in_batch == {0}
    assert 60 <= from_first <= 140  # 10 of 40 identities: a quarter of the batches, 100
    with pytest.raises(TooFewIdentitiesError, match="one dataset"):
        next(
            iterate_identity_batches(
                labels, SamplingSettings(12, 2), dataset_of_rows=dataset_of_rows
            )
        )
    with pytest.raises(SettingsError, match="names one"):
        DatasetSettings(dataset_name="Market1501", one_dataset_per_batch=True)


def test_a_run_trains_on_two_datasets_and_tests_on_the_dg_targets(
    two_dataset_root, stand_in_root, tmp_path
):
    """The one end-to-end run: Market1501 + DukeMTMC_reID, each batch from one of them, tested
    on VIPeR (split 1) and on two splits of GRID (stand-ins in another root folder); one epoch
    of two steps."""
    returncode, output = run_solution(
        [
            *SHRUNK,
            "--dataset_name",
            "Market1501,DukeMTMC_reID",
            "--one_dataset_per_batch",
            "--root_folder_path",
            two_dataset_root,
            "--testing_dataset_names",
            f"VIPeR@{stand_in_root},GRID_split3-4@{stand_in_root}",
            "--split_index",
            "1",
            "--testing_size",
            "8",  # people per test set: the features of a few dozen images
            "--freeze_backbone_for_N_epochs",
            "0",
            "--epoch_num",
            "1",
            "--steps_per_epoch",
            "2",
            "--output_folder_path",
            str(tmp_path),
        ]
    )
    assert returncode == 0, output[-3000:]
    market = plain_training_records(two_dataset_root, "Market1501")
    duke = plain_training_records(two_dataset_root, "DukeMTMC_reID")
    identity_num = len({i for _, i, _ in market}) + len({i for _, i, _ in duke})
    (total,) = [line.split() for line in output.splitlines() if line.startswith("total")]
    assert total == ["total", str(len(market) + len(duke)), str(identity_num)]
    folder = tmp_path / "Market1501+DukeMTMC_reID_resnet18"
    results = pd.read_csv(folder / "results.csv")
    assert results[["dataset", "distances"]].values.tolist() == [
        ["VIPeR_split1", "plain"],
        ["GRID_split3", "plain"],
        ["GRID_split4", "plain"],
    ]
    assert results["mAP_fraction"].between(0, 1).all()
    summary = json.loads((folder / "results.json").read_text())
    assert summary["trained_on"] == ["Market1501", "DukeMTMC_reID"]
    description = json.loads((folder / "inference_model.json").read_text())
    assert description["training_datasets"] == ["Market1501", "DukeMTMC_reID"]
    assert description["class_num"] == identity_num  # one head row per person of both


def test_the_train_x_test_table_averages_the_splits_and_no_target_picks_the_epoch(tmp_path):
    from test_sweep import write_run

    from sweeps.cross_domain import cross_domain_rows, cross_domain_table
    from sweeps.summary import RunSummary

    results = [  # epoch 1 is the best by VIPeR_split0, a target: the last epoch (2) counts
        *[(1, f"VIPeR_split{k}", "plain", 0.9, 0.9) for k in range(3)],
        (1, "GRID_split0", "plain", 0.9, 0.9),
        (2, "VIPeR_split0", "plain", 0.10, 0.20),
        (2, "VIPeR_split1", "plain", 0.20, 0.40),
        (2, "VIPeR_split2", "plain", 0.30, 0.60),
        (2, "GRID_split0", "plain", 0.05, 0.15),
    ]
    write_run(
        tmp_path / "dg" / "Market1501+DukeMTMC_reID_resnet50",
        flags="--dataset_name=Market1501,DukeMTMC_reID\n--noevaluation_only\n",
        results=results,
        best_epoch=1,
    )
    rows = cross_domain_rows([RunSummary(name="dg", folder=str(tmp_path / "dg"))])
    # by hand: VIPeR mAP 10, 20, 30: mean 20, population standard deviation 8.16
    assert cross_domain_table(rows).splitlines() == [
        "| trained on \\ tested on | VIPeR (3 splits) | GRID (1 splits) |",
        "| --- | --- | --- |",
        "| Market1501,DukeMTMC_reID | 20.0 ± 8.2 / 40.0 ± 16.3 | 5.0 ± 0.0 / 15.0 ± 0.0 |",
    ]
