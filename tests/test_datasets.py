"""Loaders on generated trees that follow each dataset's real layout and file-name grammar."""

import os

import numpy as np
import pandas as pd
import pytest

import datasets
from datasets import DatasetCountWarning, DatasetError, load_accumulated_info_of_dataset
from datasets.folder_datasets import MARKET1501
from settings import SyntheticSettings


def touch(folder_path, file_names):
    os.makedirs(folder_path, exist_ok=True)
    for file_name in file_names:
        open(os.path.join(folder_path, file_name), "wb").close()


@pytest.fixture
def market_root(tmp_path):
    base = tmp_path / "Market-1501-v15.09.15"
    touch(
        base / "bounding_box_train",
        [
            "0002_c1s1_000451_03.jpg",
            "0002_c2s1_000551_01.jpg",
            "0007_c3s3_077419_03.jpg",
            "Thumbs.db",
        ],
    )
    touch(base / "query", ["0002_c5s1_000401_00.jpg", "0011_c6s1_009121_00.jpg"])
    touch(
        base / "bounding_box_test",
        [
            "-1_c1s1_000401_03.jpg",
            "-1_c4s2_017591_02.jpg",  # junk: dropped
            "0000_c1s1_000151_01.jpg",  # distractor: kept
            "0002_c5s1_000426_04.jpg",
            "0002_c2s1_000801_01.jpg",
            "0011_c1s1_006851_02.jpg",
        ],
    )
    return tmp_path


def test_market1501_counts_identities_and_cameras(market_root):
    with pytest.warns(DatasetCountWarning):
        train_df, query_df, gallery_df, encoders = load_accumulated_info_of_dataset(
            str(market_root), "Market1501"
        )
    assert list(train_df.columns) == ["image_file_path", "identity_ID", "camera_ID"]
    assert len(train_df) == 3  # Thumbs.db ignored
    assert train_df["identity_ID"].tolist() == [2, 2, 7]
    assert train_df["camera_ID"].tolist() == [1, 2, 3]
    assert len(query_df) == 2 and query_df["camera_ID"].tolist() == [5, 6]
    assert len(gallery_df) == 4  # two junk images dropped
    assert -1 not in gallery_df["identity_ID"].tolist()
    assert gallery_df["identity_ID"].tolist().count(0) == 1
    assert all(os.path.isfile(path) for path in gallery_df["image_file_path"])
    assert list(encoders["identity_ID"].classes_) == [2, 7]
    assert encoders["identity_ID"].transform([7, 2]).tolist() == [1, 0]


def test_count_warning_names_both_counts(market_root):
    with pytest.warns(DatasetCountWarning) as records:
        load_accumulated_info_of_dataset(str(market_root), "Market1501")
    messages = [str(record.message) for record in records]
    assert any("found 3 images" in m and "12936" in m for m in messages)
    assert any("found 6 images" in m and "19732" in m for m in messages)


def test_official_counts_give_no_warning(tmp_path, recwarn):
    base = tmp_path / "Market-1501-v15.09.15"
    touch(
        base / "bounding_box_train",
        [f"{i % 751 + 1:04d}_c1s1_{i:06d}_01.jpg" for i in range(12936)],
    )
    touch(base / "query", [f"{i % 750 + 1:04d}_c2s1_{i:06d}_00.jpg" for i in range(3368)])
    touch(
        base / "bounding_box_test",
        [f"-1_c3s1_{i:06d}_01.jpg" for i in range(3819)]
        + [f"{i % 750 + 1:04d}_c4s1_{i:06d}_01.jpg" for i in range(19732 - 3819)],
    )
    train_df, query_df, gallery_df, _ = load_accumulated_info_of_dataset(
        str(tmp_path), "Market1501"
    )
    assert (len(train_df), len(query_df), len(gallery_df)) == (12936, 3368, 15913)
    assert not [w for w in recwarn if issubclass(w.category, DatasetCountWarning)]


def test_dukemtmc_grammar(tmp_path):
    base = tmp_path / "DukeMTMC-reID"
    touch(base / "bounding_box_train", ["0001_c2_f0046182.jpg", "0001_c5_f0051341.jpg"])
    touch(base / "query", ["0005_c2_f0046985.jpg"])
    touch(base / "bounding_box_test", ["0005_c7_f0050102.jpg", "0019_c8_f0022418.jpg"])
    with pytest.warns(DatasetCountWarning):
        train_df, query_df, gallery_df, _ = load_accumulated_info_of_dataset(
            str(tmp_path), "DukeMTMC_reID"
        )
    assert train_df["camera_ID"].tolist() == [2, 5]
    assert gallery_df[["identity_ID", "camera_ID"]].values.tolist() == [[5, 7], [19, 8]]


def test_missing_root_names_path_layout_and_source(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetError) as error:
        load_accumulated_info_of_dataset(str(missing), "Market1501")
    message = str(error.value)
    assert str(missing) in message
    assert "Market-1501-v15.09.15/bounding_box_train" in message
    assert "Market-1501-v15.09.15.zip" in message
    assert "Synthetic" in message


def test_missing_split_folder_is_named(market_root):
    os.rename(market_root / "Market-1501-v15.09.15" / "query", market_root / "elsewhere")
    with pytest.raises(DatasetError, match=r"Market-1501-v15\.09\.15/query'.*does not exist"):
        load_accumulated_info_of_dataset(str(market_root), "Market1501")


def test_missing_dataset_folder_under_existing_root(tmp_path):
    with pytest.raises(DatasetError, match=r"(?s)DukeMTMC-reID'.*does not exist.*withdrawn"):
        load_accumulated_info_of_dataset(str(tmp_path), "DukeMTMC_reID")


def test_unparseable_file_name_is_named(market_root):
    touch(market_root / "Market-1501-v15.09.15" / "query", ["holiday_photo.jpg"])
    with pytest.raises(DatasetError, match="holiday_photo.jpg"):
        load_accumulated_info_of_dataset(str(market_root), "Market1501")


def test_unknown_dataset_name(tmp_path):
    with pytest.raises(DatasetError, match="Unknown dataset_name 'Market1502'.*Market1501"):
        load_accumulated_info_of_dataset(str(tmp_path), "Market1502")


@pytest.fixture
def msmt17_root(tmp_path):
    base = tmp_path / "MSMT17_V2"
    train_lines = [
        "0000/0000_000_01_0303morning_0015_0.jpg 0",
        "0000/0000_001_05_0303morning_0016_0.jpg 0",
        "0001/0001_000_14_0303noon_0100_1.jpg 1",
    ]
    val_lines = ["0002/0002_003_07_0303afternoon_0200_0.jpg 2"]
    query_lines = ["0000/0000_000_03_0113morning_0001_0.jpg 0"]
    gallery_lines = [
        "0000/0000_004_12_0113morning_0008_1.jpg 0",
        "0003/0003_000_15_0113noon_0009_0.jpg 3",
    ]
    for folder, lines in (
        ("mask_train_v2", train_lines + val_lines),
        ("mask_test_v2", query_lines + gallery_lines),
    ):
        for line in lines:
            relative_path = line.split()[0]
            touch(base / folder / os.path.dirname(relative_path), [os.path.basename(relative_path)])
    for name, lines in (
        ("list_train.txt", train_lines),
        ("list_val.txt", val_lines),
        ("list_query.txt", query_lines),
        ("list_gallery.txt", gallery_lines),
    ):
        (base / name).write_text("\n".join(lines) + "\n")
    return tmp_path


def test_msmt17_lists(msmt17_root):
    with pytest.warns(DatasetCountWarning):
        train_df, query_df, gallery_df, encoders = load_accumulated_info_of_dataset(
            str(msmt17_root), "MSMT17"
        )
    assert train_df[["identity_ID", "camera_ID"]].values.tolist() == [
        [0, 1],
        [0, 5],
        [1, 14],
        [2, 7],
    ]
    assert query_df[["identity_ID", "camera_ID"]].values.tolist() == [[0, 3]]
    assert gallery_df[["identity_ID", "camera_ID"]].values.tolist() == [[0, 12], [3, 15]]
    assert train_df["image_file_path"][3].endswith(
        os.path.join("mask_train_v2", "0002", "0002_003_07_0303afternoon_0200_0.jpg")
    )
    assert query_df["image_file_path"][0].startswith(
        str(msmt17_root / "MSMT17_V2" / "mask_test_v2")
    )
    assert list(encoders["identity_ID"].classes_) == [0, 1, 2]


def test_msmt17_missing_list_file(msmt17_root):
    os.remove(msmt17_root / "MSMT17_V2" / "list_val.txt")
    with pytest.raises(DatasetError, match="list_val.txt'.*does not exist"):
        load_accumulated_info_of_dataset(str(msmt17_root), "MSMT17")


def test_msmt17_missing_images_are_reported(msmt17_root):
    os.remove(
        msmt17_root / "MSMT17_V2" / "mask_test_v2" / "0003" / "0003_000_15_0113noon_0009_0.jpg"
    )
    with pytest.warns(DatasetCountWarning, match="1 images named in the lists are missing"):
        _, _, gallery_df, _ = load_accumulated_info_of_dataset(str(msmt17_root), "MSMT17")
    assert len(gallery_df) == 1


def test_msmt17_bad_list_line(msmt17_root):
    (msmt17_root / "MSMT17_V2" / "list_query.txt").write_text("just_a_name.jpg\n")
    with pytest.raises(DatasetError, match="list_query.txt, line 1"):
        load_accumulated_info_of_dataset(str(msmt17_root), "MSMT17")


def write_csv(path, rows, columns):
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False)


def test_csv_dataset(tmp_path):
    csv_path = tmp_path / "mine.csv"
    write_csv(
        csv_path,
        [
            ("img/a1.jpg", 5, 1, "train"),
            ("img/a2.jpg", 5, 2, "train"),
            ("img/b1.jpg", 9, 1, "Query"),
            ("img/b2.jpg", 9, 3, "gallery"),
        ],
        ["image_file_path", "identity_ID", "camera_ID", "split"],
    )
    train_df, query_df, gallery_df, encoders = load_accumulated_info_of_dataset(
        str(tmp_path), str(csv_path)
    )
    assert train_df["image_file_path"][0] == str(tmp_path / "img" / "a1.jpg")
    assert query_df[["identity_ID", "camera_ID"]].values.tolist() == [[9, 1]]
    assert gallery_df["camera_ID"].tolist() == [3]
    assert list(encoders["identity_ID"].classes_) == [5]
    # The same file through --dataset_name CSV and --root_folder_path pointing at it.
    assert load_accumulated_info_of_dataset(str(csv_path), "CSV")[1].equals(query_df)


def test_csv_without_camera_gives_each_image_its_own(tmp_path):
    write_csv(
        tmp_path / "dataset.csv",
        [
            ("a.jpg", "alice", "train"),
            ("b.jpg", "bob", "query"),
            ("c.jpg", "bob", "gallery"),
            ("d.jpg", "alice", "gallery"),
        ],
        ["image_file_path", "identity_ID", "split"],
    )
    train_df, query_df, gallery_df, _ = load_accumulated_info_of_dataset(str(tmp_path), "CSV")
    cameras = pd.concat([train_df, query_df, gallery_df])["camera_ID"]
    assert cameras.nunique() == 4
    assert query_df["identity_ID"][0] == gallery_df["identity_ID"][0]  # names numbered consistently
    assert gallery_df["identity_ID"][0] != gallery_df["identity_ID"][1]
    assert np.issubdtype(query_df["identity_ID"].dtype, np.integer)


def test_csv_errors(tmp_path):
    with pytest.raises(DatasetError, match="(?s)does not exist.*image_file_path,identity_ID"):
        load_accumulated_info_of_dataset(str(tmp_path), "CSV")
    write_csv(tmp_path / "dataset.csv", [("a.jpg", 1)], ["image_file_path", "identity_ID"])
    with pytest.raises(DatasetError, match=r"missing the columns \['split'\]"):
        load_accumulated_info_of_dataset(str(tmp_path), "CSV")
    write_csv(
        tmp_path / "dataset.csv",
        [("a.jpg", 1, "test")],
        ["image_file_path", "identity_ID", "split"],
    )
    with pytest.raises(DatasetError, match=r"split column holds \['test'\]"):
        load_accumulated_info_of_dataset(str(tmp_path), "CSV")
    write_csv(
        tmp_path / "dataset.csv",
        [("a.jpg", 1, "train"), ("b.jpg", 1, "query")],
        ["image_file_path", "identity_ID", "split"],
    )
    with pytest.raises(DatasetError, match="no rows with split == 'gallery'"):
        load_accumulated_info_of_dataset(str(tmp_path), "CSV")
    write_csv(
        tmp_path / "dataset.csv",
        [("a.jpg", 1, "train"), ("b.jpg", 1, "query"), ("./a.jpg", 1, "gallery")],
        ["image_file_path", "identity_ID", "split"],
    )
    with pytest.raises(DatasetError, match=r"1 image\(s\) are listed more than once, the first "):
        load_accumulated_info_of_dataset(str(tmp_path), "CSV")
    with pytest.raises(DatasetError, match="a.jpg' on lines 2, 4. List each image once"):
        load_accumulated_info_of_dataset(str(tmp_path), "CSV")
    (tmp_path / "dataset.csv").write_text(
        "image_file_path,identity_ID,split\na.jpg,1,train\nb.jpg,1,query,extra\n"
    )
    with pytest.raises(DatasetError, match="(?s)cannot be read as CSV: .*line 3, saw 4"):
        load_accumulated_info_of_dataset(str(tmp_path), "CSV")


def make_test_frames():
    query_df = pd.DataFrame(
        {
            "image_file_path": [f"q{i}" for i in range(40)],
            "identity_ID": np.repeat(np.arange(1, 21), 2),
            "camera_ID": 1,
        }
    )
    gallery_identity_IDs = np.concatenate(
        [np.repeat(np.arange(1, 21), 3), np.arange(21, 31), np.zeros(100, int)]
    )
    gallery_df = pd.DataFrame(
        {
            "image_file_path": [f"g{i}" for i in range(len(gallery_identity_IDs))],
            "identity_ID": gallery_identity_IDs,
            "camera_ID": 2,
        }
    )
    return query_df, gallery_df


def test_testing_size_fraction_is_grouped_by_identity():
    query_df, gallery_df = make_test_frames()
    kept_query_df, kept_gallery_df = datasets.select_testing_subset(query_df, gallery_df, 0.5)
    kept_identity_IDs = set(kept_query_df["identity_ID"]) | set(kept_gallery_df["identity_ID"]) - {
        0
    }
    assert len(kept_identity_IDs) == 15  # half of 30 identities (20 in query + 10 gallery-only)
    for identity_ID in kept_identity_IDs:  # whole identities, never part of one
        assert (kept_query_df["identity_ID"] == identity_ID).sum() == (
            query_df["identity_ID"] == identity_ID
        ).sum()
        assert (kept_gallery_df["identity_ID"] == identity_ID).sum() == (
            gallery_df["identity_ID"] == identity_ID
        ).sum()
    distractor_num = (kept_gallery_df["identity_ID"] == 0).sum()
    assert 30 <= distractor_num <= 70  # about half of the 100 distractors
    again = datasets.select_testing_subset(query_df, gallery_df, 0.5)
    assert again[0].equals(kept_query_df) and again[1].equals(kept_gallery_df)


def test_testing_size_absolute_all_and_none():
    query_df, gallery_df = make_test_frames()
    kept_query_df, kept_gallery_df = datasets.select_testing_subset(query_df, gallery_df, 6)
    assert len(set(kept_query_df["identity_ID"]) | set(kept_gallery_df["identity_ID"]) - {0}) == 6
    assert datasets.select_testing_subset(query_df, gallery_df, 1.0)[1] is gallery_df
    kept_query_df, kept_gallery_df = datasets.select_testing_subset(query_df, gallery_df, 0.0)
    assert kept_query_df.empty and kept_gallery_df.empty
    for bad in (-0.5, 2.5):
        with pytest.raises(ValueError, match="testing_size"):
            datasets.select_testing_subset(query_df, gallery_df, bad)


def test_synthetic_dataset_is_a_market_tree(tmp_path):
    options = dict(
        synthetic=SyntheticSettings(
            synthetic_train_identity_num=12,
            synthetic_test_identity_num=10,
            synthetic_camera_num=4,
            synthetic_image_height=64,
            synthetic_image_width=32,
            seed=3,
        )
    )
    train_df, query_df, gallery_df, encoders = load_accumulated_info_of_dataset(
        str(tmp_path), "Synthetic", **options
    )
    dataset_root = tmp_path / "Synthetic_12x10_c4_64x32_seed3" / MARKET1501.folder_name
    junk_files = [
        name for name in os.listdir(dataset_root / "bounding_box_test") if name.startswith("-1_c")
    ]
    assert junk_files and not (gallery_df["identity_ID"] == -1).any()
    assert (gallery_df["identity_ID"] == 0).sum() == 5
    assert train_df["identity_ID"].nunique() == 12 and len(encoders["identity_ID"].classes_) == 12
    assert query_df["identity_ID"].nunique() == 10
    assert set(query_df["identity_ID"]) <= set(gallery_df["identity_ID"])
    assert not set(train_df["identity_ID"]) & set(query_df["identity_ID"])
    assert set(gallery_df["camera_ID"]) <= {1, 2, 3, 4}
    for _, query in query_df.iterrows():  # every query has a match seen by another camera
        matches = gallery_df[
            (gallery_df["identity_ID"] == query["identity_ID"])
            & (gallery_df["camera_ID"] != query["camera_ID"])
        ]
        assert len(matches) > 0
    import cv2

    image = cv2.imread(train_df["image_file_path"][0])
    assert image.shape == (64, 32, 3)
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".synthetic-partial")]
    # Same parameters: read again, not rewritten; same seed elsewhere: the same file names.
    before = os.path.getmtime(train_df["image_file_path"][0])
    load_accumulated_info_of_dataset(str(tmp_path), "Synthetic", **options)
    assert os.path.getmtime(train_df["image_file_path"][0]) == before
    again = load_accumulated_info_of_dataset(str(tmp_path / "other"), "Synthetic", **options)[0]
    assert [os.path.basename(p) for p in again["image_file_path"]] == [
        os.path.basename(p) for p in train_df["image_file_path"]
    ]


def test_synthetic_identities_are_learnable_and_mirroring_matters(tmp_path):
    """Raw-pixel nearest neighbours beat chance; mirroring changes images (asymmetric traits)."""
    import cv2

    from datasets.synthetic import random_appearance, random_camera, render_image

    train_df, _, _, _ = load_accumulated_info_of_dataset(
        str(tmp_path),
        "Synthetic",
        synthetic=SyntheticSettings(
            synthetic_train_identity_num=20,
            synthetic_test_identity_num=2,
            synthetic_camera_num=3,
            synthetic_image_height=64,
            synthetic_image_width=32,
            seed=1,
        ),
    )
    images = np.stack(
        [cv2.imread(p).astype(np.float32).ravel() for p in train_df["image_file_path"]]
    )
    images -= images.mean(axis=1, keepdims=True)
    images /= np.linalg.norm(images, axis=1, keepdims=True)
    similarities = images @ images.T
    np.fill_diagonal(similarities, -np.inf)
    labels = train_df["identity_ID"].to_numpy()
    rank1 = np.mean(labels[similarities.argmax(axis=1)] == labels)
    assert rank1 > 3 / 20  # well above chance (1/20), yet not trivially solved by pixels
    rng = np.random.default_rng(0)
    appearance = random_appearance(rng)
    while appearance.bag_side == 0:
        appearance = random_appearance(rng)
    image = render_image(
        appearance, random_camera(rng), height=64, width=32, rng=np.random.default_rng(5)
    )
    assert np.abs(image.astype(int) - image[:, ::-1].astype(int)).mean() > 5


@pytest.mark.parametrize("variant", ["labeled", "detected"])
def test_cuhk03_np_reads_png_files_named_by_identity_and_camera(tmp_path, variant):
    base = tmp_path / "cuhk03-np" / variant
    touch(base / "bounding_box_train", ["0001_c1_1.png", "0001_c2_1.png", "0003_c1_2.png"])
    touch(base / "query", ["0005_c1_1.png"])
    touch(base / "bounding_box_test", ["0005_c2_1.png", "0005_c2_2.png", "0007_c1_1.png"])
    with pytest.warns(DatasetCountWarning, match="official"):
        train_df, query_df, gallery_df, _ = load_accumulated_info_of_dataset(
            str(tmp_path), f"CUHK03_NP_{variant}"
        )
    assert train_df[["identity_ID", "camera_ID"]].values.tolist() == [[1, 1], [1, 2], [3, 1]]
    assert query_df[["identity_ID", "camera_ID"]].values.tolist() == [[5, 1]]
    assert gallery_df["identity_ID"].tolist() == [5, 5, 7]
    assert gallery_df["image_file_path"][0] == str(base / "bounding_box_test" / "0005_c2_1.png")
    other = "detected" if variant == "labeled" else "labeled"
    with pytest.raises(DatasetError, match=rf"cuhk03-np/{other}/bounding_box_train/\*\.png"):
        load_accumulated_info_of_dataset(str(tmp_path), f"CUHK03_NP_{other}")


def test_cuhk03_np_counts_are_checked_against_the_official_ones(tmp_path):
    base = tmp_path / "cuhk03-np" / "detected"
    touch(base / "bounding_box_train", ["0001_c1_1.png", "0001_c2_1.png"])
    touch(base / "query", ["0005_c1_1.png"])
    touch(base / "bounding_box_test", ["0005_c2_1.png"])
    with pytest.warns(DatasetCountWarning) as caught:
        load_accumulated_info_of_dataset(str(tmp_path), "CUHK03_NP_detected")
    messages = [str(warning.message) for warning in caught]
    firsts = [m.split(" Continuing")[0] for m in messages]
    assert "CUHK03_NP_detected train: found 2 images, the official release has 7365." in firsts
    assert "CUHK03_NP_detected gallery: found 1 images, the official release has 5332." in firsts


def test_msmt17_v1_reads_its_own_folders(msmt17_root):
    base = msmt17_root / "MSMT17_V2"
    os.rename(base / "mask_train_v2", base / "train")
    os.rename(base / "mask_test_v2", base / "test")
    os.rename(base, msmt17_root / "MSMT17_V1")
    with pytest.warns(DatasetCountWarning):
        train_df, query_df, gallery_df, _ = load_accumulated_info_of_dataset(
            str(msmt17_root), "MSMT17_V1"
        )
    assert train_df[["identity_ID", "camera_ID"]].values.tolist() == [
        [0, 1],
        [0, 5],
        [1, 14],
        [2, 7],
    ]
    assert gallery_df[["identity_ID", "camera_ID"]].values.tolist() == [[0, 12], [3, 15]]
    assert query_df["image_file_path"][0].startswith(str(msmt17_root / "MSMT17_V1" / "test"))
    # MSMT17 (version 2) names the version 1 copy it finds instead of saying "missing".
    with pytest.raises(DatasetError, match="holds a copy of MSMT17_V1.*--dataset_name MSMT17_V1"):
        load_accumulated_info_of_dataset(str(msmt17_root), "MSMT17")
    # A version 1 copy renamed MSMT17_V2 is named too.
    os.rename(msmt17_root / "MSMT17_V1", msmt17_root / "MSMT17_V2")
    with pytest.raises(DatasetError, match="MSMT17_V2'? holds a copy of MSMT17_V1"):
        load_accumulated_info_of_dataset(str(msmt17_root), "MSMT17")


def test_msmt17_v1_names_a_version_2_copy(msmt17_root):
    with pytest.raises(DatasetError, match="holds a copy of MSMT17_V2.*--dataset_name MSMT17\\b"):
        load_accumulated_info_of_dataset(str(msmt17_root), "MSMT17_V1")
