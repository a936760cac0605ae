"""The small test sets of domain generalisation (DG), in the layouts torchreid documents, each
read with one of its 10 train/test splits (--split_index): VIPeR, PRID2011 and QMUL-iLIDS with
the project's fixed splits (fixed_splits.py, datasets/splits/*.json), GRID with its own.

VIPeR (Gray et al., PETS 2007; Gray and Tao, ECCV 2008), folder viper/VIPeR:
    cam_a/*.bmp and cam_b/*.bmp, one image of each of 632 people per camera (1,264 images).
    File name `000_45.bmp`: identity 000 (numbers 000 to 873, 242 unused), viewing angle 45.
    Split: 316 training identities (both images), 316 test ones: query cam_a, gallery cam_b.
GRID (Loy et al., CVPR 2009), folder grid/underground_reid:
    probe/*.jpeg 250 images of 250 people; gallery/*.jpeg 1,025 images: those 250 people again
    and 775 other people, all numbered 0000 (distractors); 8 cameras.
    File name `0001_1_25004_107_32_130_412.jpeg`: identity 0001, camera 1.
    features_and_partitions.mat: trainIdxAll, a 1 x 10 cell array of structs; the third field
    of each holds the 125 training identities of that split. Test: the probe images of the
    other 125 as query; their gallery images and the 775 distractors as gallery.
PRID2011 single-shot (Hirzer et al., SCIA 2011), folder prid2011/prid_2011/single_shot:
    cam_a/person_0001.png .. person_0385.png, cam_b/person_0001.png .. person_0749.png; the
    first 200 people were seen by both cameras. Split: 100 of those 200 for training (both
    images), 100 for testing: query their cam_a images, gallery their cam_b images and the 549
    people only cam_b saw (201 to 749), as torchreid does.
QMUL-iLIDS (Zheng et al., BMVC 2009), folder ilids/i-LIDS_Pedestrian/Persons:
    476 images of 119 people. File name `0001004.jpg`: identity 0001, image 004 (no cameras:
    the image number stands for one, as in torchreid). Split: 59 training identities (all their
    images), 60 test ones: query each one's first image (in file-name order), gallery its
    second.
"""

import os
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .common import (
    DatasetError,
    list_image_file_names,
    make_frame,
    require_path,
    warn_if_count_differs,
)
from .fixed_splits import read_split, split_file_path

Frames = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]


@dataclass(frozen=True)
class SplitDataset:
    """Where one DG test set lives, its file-name grammar and official counts."""

    name: str
    folder_name: str  # under --root_folder_path
    image_folders: tuple[str, ...]  # under folder_name
    file_name_pattern: re.Pattern  # groups: identity_ID, and camera_ID where names carry one
    official_counts: dict[str, int]  # image folder: images
    where_to_get: str
    image_extension: str
    required_files: tuple[str, ...] = ()  # under folder_name

    @property
    def layout(self) -> str:
        paths = [f"{folder}/*{self.image_extension}" for folder in self.image_folders]
        return "\n".join(
            f"  {self.folder_name}/{path}" for path in paths + list(self.required_files)
        )


VIPER = SplitDataset(
    name="VIPeR",
    folder_name="viper",
    image_folders=("VIPeR/cam_a", "VIPeR/cam_b"),
    image_extension=".bmp",
    file_name_pattern=re.compile(r"^(?P<identity_ID>\d+)_(?P<angle>\d+)\.bmp$", re.I),
    official_counts={"VIPeR/cam_a": 632, "VIPeR/cam_b": 632},
    where_to_get=(
        "VIPeR (Gray et al., PETS 2007) is distributed as VIPeR.v1.0.zip; unzip it into "
        "--root_folder_path/viper."
    ),
)
GRID = SplitDataset(
    name="GRID",
    folder_name="grid",
    image_folders=("underground_reid/probe", "underground_reid/gallery"),
    image_extension=".jpeg",
    required_files=("underground_reid/features_and_partitions.mat",),
    file_name_pattern=re.compile(r"^(?P<identity_ID>\d+)_(?P<camera_ID>\d+)_.*\.jpe?g$", re.I),
    official_counts={"underground_reid/probe": 250, "underground_reid/gallery": 1025},
    where_to_get=(
        "GRID (Loy et al., CVPR 2009) is distributed as underground_reid.zip; unzip it into "
        "--root_folder_path/grid."
    ),
)
PRID2011 = SplitDataset(
    name="PRID2011",
    folder_name="prid2011",
    image_folders=("prid_2011/single_shot/cam_a", "prid_2011/single_shot/cam_b"),
    image_extension=".png",
    file_name_pattern=re.compile(r"^person_(?P<identity_ID>\d+)\.png$", re.I),
    official_counts={"prid_2011/single_shot/cam_a": 385, "prid_2011/single_shot/cam_b": 749},
    where_to_get=(
        "PRID 2011 (Hirzer et al., SCIA 2011) is distributed by TU Graz as prid_2011.zip; unzip "
        "it into --root_folder_path/prid2011."
    ),
)
ILIDS = SplitDataset(
    name="iLIDS",
    folder_name="ilids",
    image_folders=("i-LIDS_Pedestrian/Persons",),
    image_extension=".jpg",
    file_name_pattern=re.compile(r"^(?P<identity_ID>\d{4})(?P<camera_ID>\d{3})\.jpg$", re.I),
    official_counts={"i-LIDS_Pedestrian/Persons": 476},
    where_to_get=(
        "QMUL-iLIDS (Zheng et al., BMVC 2009) is distributed by QMUL as i-LIDS_Pedestrian.tgz; "
        "unpack it into --root_folder_path/ilids."
    ),
)
GRID_TRAINING_IDENTITY_NUM = 125


def check_required_paths(root_folder_path: str, dataset: SplitDataset) -> str:
    """The dataset's folder, after checking every required path, before any work."""
    dataset_folder_path = os.path.join(root_folder_path, dataset.folder_name)
    require_path(root_folder_path, dataset.name, dataset.layout, dataset.where_to_get)
    require_path(dataset_folder_path, dataset.name, dataset.layout, dataset.where_to_get)
    for kind, paths in (("folder", dataset.image_folders), ("file", dataset.required_files)):
        for path in paths:
            require_path(
                os.path.join(dataset_folder_path, path),
                dataset.name,
                dataset.layout,
                dataset.where_to_get,
                kind=kind,
            )
    return dataset_folder_path


def read_image_folder(
    dataset_folder_path: str, relative_path: str, dataset: SplitDataset, example: str
) -> list[tuple[str, int, int | None]]:
    """(path, identity, camera or None) of each image of one folder, in file-name order; the
    count is checked against the official one (a warning)."""
    folder_path = os.path.join(dataset_folder_path, relative_path)
    file_names = list_image_file_names(folder_path)
    warn_if_count_differs(
        dataset.name, relative_path, len(file_names), dataset.official_counts[relative_path]
    )
    images = []
    for file_name in file_names:
        match = dataset.file_name_pattern.match(file_name)
        if match is None:
            raise DatasetError(
                f"{dataset.name}: cannot read the identity from the file name {file_name!r} in "
                f"{folder_path!r}: expected names like {example}. Move files with other names "
                "out of the dataset's folders."
            )
        camera = match.groupdict().get("camera_ID")
        images.append(
            (
                os.path.join(folder_path, file_name),
                int(match["identity_ID"]),
                None if camera is None else int(camera),
            )
        )
    if not images:
        raise DatasetError(
            f"{dataset.name}: the folder {folder_path!r} holds no images (expected "
            f"{dataset.official_counts[relative_path]}, named like {example}). Check that the "
            "dataset was fully extracted."
        )
    return images


def require_identities(
    dataset: SplitDataset, *, found: set[int], needed: list[int], where: str, source: str
) -> None:
    """The split names identities the copy lacks: it cannot be applied."""
    missing = sorted(set(needed) - found)
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise DatasetError(
            f"{dataset.name}: the split ({source}) names {len(missing)} identities that have no "
            f"image in {where}: {shown}. The splits are those of the full dataset; restore the "
            "missing images (re-extract the dataset)."
        )


def load_two_cameras(
    root_folder_path: str, dataset: SplitDataset, *, split_index: int, example: str
) -> Frames:
    """VIPeR and PRID2011: the split's training people in both cameras; its test people seen
    by the first camera (query) and the second (gallery), with the people only the second saw
    (PRID2011's 201 to 749) in the gallery too."""
    dataset_folder_path = check_required_paths(root_folder_path, dataset)
    cameras = {
        camera_ID: read_image_folder(dataset_folder_path, folder, dataset, example)
        for camera_ID, folder in enumerate(dataset.image_folders, start=1)
    }
    file_stem = dataset.name.lower()
    train_identities, test_identities = read_split(file_stem, split_index)
    for camera_ID, images in cameras.items():
        require_identities(
            dataset,
            found={identity for _, identity, _ in images},
            needed=train_identities + test_identities,
            where=dataset.image_folders[camera_ID - 1],
            source=split_file_path(file_stem),
        )
    train_set, test_set = set(train_identities), set(test_identities)
    records = {split: [] for split in ("train", "query", "gallery")}
    for camera_ID, images in cameras.items():
        for path, identity, _ in images:
            if identity in train_set:
                records["train"].append((path, identity, camera_ID))
            elif identity in test_set or camera_ID == 2:
                records["query" if camera_ID == 1 else "gallery"].append(
                    (path, identity, camera_ID)
                )
    return tuple(make_frame(records[split]) for split in ("train", "query", "gallery"))


def load_viper(root_folder_path: str, split_index: int) -> Frames:
    return load_two_cameras(root_folder_path, VIPER, split_index=split_index, example="000_45.bmp")


def load_prid2011(root_folder_path: str, split_index: int) -> Frames:
    return load_two_cameras(
        root_folder_path, PRID2011, split_index=split_index, example="person_0001.png"
    )


def load_ilids(root_folder_path: str, split_index: int) -> Frames:
    dataset_folder_path = check_required_paths(root_folder_path, ILIDS)
    images = read_image_folder(
        dataset_folder_path, "i-LIDS_Pedestrian/Persons", ILIDS, "0001004.jpg"
    )
    train_identities, test_identities = read_split("ilids", split_index)
    images_by_identity: dict[int, list] = {}
    for image in images:  # in file-name order
        images_by_identity.setdefault(image[1], []).append(image)
    require_identities(
        ILIDS,
        found=set(images_by_identity),
        needed=train_identities + test_identities,
        where="Persons",
        source=split_file_path("ilids"),
    )
    too_few = [i for i in test_identities if len(images_by_identity[i]) < 2]
    if too_few:
        raise DatasetError(
            f"iLIDS: the test identities {too_few[:10]} have fewer than 2 images in "
            f"{os.path.join(dataset_folder_path, 'i-LIDS_Pedestrian/Persons')!r}; each needs a "
            "query and a gallery image. Re-extract the dataset."
        )
    train = [image for i in train_identities for image in images_by_identity[i]]
    query = [images_by_identity[i][0] for i in test_identities]
    gallery = [images_by_identity[i][1] for i in test_identities]
    return tuple(make_frame(records) for records in (train, query, gallery))


def read_grid_training_identities(mat_file_path: str, split_index: int) -> list[int]:
    """The 125 training identities of one split of GRID's features_and_partitions.mat."""
    from scipy.io import loadmat

    explanation = (
        "expected a variable trainIdxAll, a 1 x 10 cell array of structs whose third field "
        f"holds {GRID_TRAINING_IDENTITY_NUM} training identities (as GRID's own file has it)"
    )
    try:
        cells = loadmat(mat_file_path)["trainIdxAll"].ravel()
        identities = np.asarray(cells[split_index][0, 0][2]).ravel()
    except (KeyError, IndexError, ValueError, TypeError, NotImplementedError) as error:
        raise DatasetError(
            f"GRID: cannot read split {split_index} from {mat_file_path!r} ({error}): "
            f"{explanation}. Re-extract underground_reid.zip."
        ) from None
    if len(identities) != GRID_TRAINING_IDENTITY_NUM or len(cells) != 10:
        raise DatasetError(
            f"GRID: {mat_file_path!r} holds {len(cells)} splits and {len(identities)} training "
            f"identities in split {split_index}: {explanation}. Re-extract underground_reid.zip."
        )
    return sorted(int(identity) for identity in identities)


def load_grid(root_folder_path: str, split_index: int) -> Frames:
    dataset_folder_path = check_required_paths(root_folder_path, GRID)
    example = "0001_1_25004_107_32_130_412.jpeg"
    probe = read_image_folder(dataset_folder_path, "underground_reid/probe", GRID, example)
    gallery = read_image_folder(dataset_folder_path, "underground_reid/gallery", GRID, example)
    mat_file_path = os.path.join(
        dataset_folder_path, "underground_reid/features_and_partitions.mat"
    )
    train_identities = set(read_grid_training_identities(mat_file_path, split_index))
    require_identities(
        GRID,
        found={identity for _, identity, _ in probe},
        needed=sorted(train_identities),
        where="probe",
        source=mat_file_path,
    )
    records = {split: [] for split in ("train", "query", "gallery")}
    for split, images in (("query", probe), ("gallery", gallery)):
        for image in images:
            records["train" if image[1] in train_identities else split].append(image)
    return tuple(make_frame(records[split]) for split in ("train", "query", "gallery"))


SPLIT_LOADERS = {
    "VIPeR": load_viper,
    "GRID": load_grid,
    "PRID2011": load_prid2011,
    "iLIDS": load_ilids,
}
