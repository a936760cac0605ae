"""Generated stand-ins for VIPeR, GRID, PRID2011, QMUL-iLIDS, CUHK02 and CUHK-SYSU: each in its
real folder layout and file-name grammar, with small images of synthetic.py's person figures.
The four DG test sets have their real numbers of people and images (the fixed splits name real
identities), CUHK02 and CUHK-SYSU a few people each (their loaders warn about the counts).
For tests and demos without the real data; nothing here is a substitute for the data.

    python -m datasets.stand_ins --root_folder_path ./data       # all six, under ./data
    write_stand_in(root, "VIPeR")                                  # one

Each dataset's folder is written under a temporary name and renamed when complete, so an
interrupted run never leaves a half-written stand-in that would later be read as whole; an
existing folder is left as it is.
"""

import argparse
import os
import sys

import cv2
import numpy as np

from atomic_files import atomic_folder

from .fixed_splits import viper_identities
from .synthetic import random_appearance, random_camera, render_image

IMAGE_HEIGHT, IMAGE_WIDTH = 32, 16
STAND_IN_FOLDERS = {  # dataset name: its folder under the root folder
    "VIPeR": "viper",
    "GRID": "grid",
    "PRID2011": "prid2011",
    "iLIDS": "ilids",
    "CUHK02": "cuhk02",
    "CUHK_SYSU": "cuhksysu",
}


class Painter:
    """Draws person figures: one appearance per identity, one look per camera."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.appearances: dict = {}
        self.cameras: dict = {}

    def write(self, path: str, identity, camera) -> None:
        if identity not in self.appearances:
            self.appearances[identity] = random_appearance(self.rng)
        if camera not in self.cameras:
            self.cameras[camera] = random_camera(self.rng)
        image = render_image(
            self.appearances[identity],
            self.cameras[camera],
            height=IMAGE_HEIGHT,
            width=IMAGE_WIDTH,
            rng=self.rng,
        )
        cv2.imwrite(path, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


def make_folders(base: str, *relative_paths: str) -> list[str]:
    paths = [os.path.join(base, path) for path in relative_paths]
    for path in paths:
        os.makedirs(path, exist_ok=True)
    return paths


def write_viper(base: str, painter: Painter) -> None:
    """VIPeR/cam_a/000_45.bmp, VIPeR/cam_b/000_90.bmp: the 632 real identity numbers."""
    cam_a, cam_b = make_folders(base, "VIPeR/cam_a", "VIPeR/cam_b")
    for identity in viper_identities():
        for folder, camera in ((cam_a, "a"), (cam_b, "b")):
            angle = int(painter.rng.choice([0, 45, 90, 135, 180]))
            painter.write(os.path.join(folder, f"{identity:03d}_{angle}.bmp"), identity, camera)


def write_grid(base: str, painter: Painter) -> None:
    """underground_reid/{probe,gallery}/0001_1_25004_107_32_130_412.jpeg: 250 people in both,
    775 distractors (0000) in the gallery, 8 cameras; features_and_partitions.mat with
    trainIdxAll, 10 splits of 125 training identities, in the structure of GRID's own file."""
    from scipy.io import savemat

    probe, gallery = make_folders(base, "underground_reid/probe", "underground_reid/gallery")
    frame = iter(range(10000, 99999))

    def name(identity: int, camera: int) -> str:
        x, y = painter.rng.integers(0, 300, size=2)
        return f"{identity:04d}_{camera}_{next(frame)}_{x}_{y}_40_120.jpeg"

    for identity in range(1, 251):
        probe_camera, gallery_camera = painter.rng.choice(np.arange(1, 9), 2, replace=False)
        painter.write(os.path.join(probe, name(identity, probe_camera)), identity, probe_camera)
        painter.write(
            os.path.join(gallery, name(identity, gallery_camera)), identity, gallery_camera
        )
    for distractor in range(775):
        camera = int(painter.rng.integers(1, 9))
        painter.write(os.path.join(gallery, name(0, camera)), ("distractor", distractor), camera)
    cells = np.empty((1, 10), dtype=object)
    for index in range(10):
        training = np.sort(painter.rng.choice(np.arange(1, 251), 125, replace=False))
        # A struct whose third field holds the training identities (1 x 125), as in GRID's file.
        cells[0, index] = {
            "probe_identities": np.arange(1, 251, dtype=np.float64)[None],
            "gallery_identities": np.arange(0, 251, dtype=np.float64)[None],
            "training_identities": training.astype(np.float64)[None],
        }
    savemat(
        os.path.join(base, "underground_reid", "features_and_partitions.mat"),
        {"trainIdxAll": cells},
    )


def write_prid2011(base: str, painter: Painter) -> None:
    """prid_2011/single_shot/cam_a/person_0001.png .. 0385, cam_b/person_0001.png .. 0749."""
    cam_a, cam_b = make_folders(base, "prid_2011/single_shot/cam_a", "prid_2011/single_shot/cam_b")
    for folder, camera, identity_num in ((cam_a, "a", 385), (cam_b, "b", 749)):
        for identity in range(1, identity_num + 1):
            painter.write(os.path.join(folder, f"person_{identity:04d}.png"), identity, camera)


def write_ilids(base: str, painter: Painter) -> None:
    """i-LIDS_Pedestrian/Persons/0001001.jpg: 119 people, 4 images each (476)."""
    (persons,) = make_folders(base, "i-LIDS_Pedestrian/Persons")
    image_number = iter(range(1, 1000))
    for identity in range(1, 120):
        for _ in range(4):
            camera = int(painter.rng.integers(4))
            number = next(image_number)
            painter.write(
                os.path.join(persons, f"{identity:04d}{number:03d}.jpg"), identity, camera
            )


def write_cuhk02(base: str, painter: Painter) -> None:
    """Dataset/P1..P5/{cam1,cam2}/0001_1.png: 3 people per pair, 2 images per camera."""
    for pair in ("P1", "P2", "P3", "P4", "P5"):
        for camera in ("cam1", "cam2"):
            (folder,) = make_folders(base, f"Dataset/{pair}/{camera}")
            for identity in range(1, 4):
                for image in (1, 2):
                    painter.write(
                        os.path.join(folder, f"{identity:04d}_{image}.png"),
                        (pair, identity),
                        (pair, camera),
                    )


def write_cuhk_sysu(base: str, painter: Painter) -> None:
    """cropped_images/p11422_s16929_1.jpg: 8 people with 2 to 4 crops each."""
    (folder,) = make_folders(base, "cropped_images")
    for person in range(8):
        identity = 11000 + 37 * person
        for crop in range(2 + person % 3):
            scene = int(painter.rng.integers(1, 18000))
            painter.write(
                os.path.join(folder, f"p{identity}_s{scene}_{crop + 1}.jpg"), identity, scene
            )


WRITERS = {
    "VIPeR": write_viper,
    "GRID": write_grid,
    "PRID2011": write_prid2011,
    "iLIDS": write_ilids,
    "CUHK02": write_cuhk02,
    "CUHK_SYSU": write_cuhk_sysu,
}


def write_stand_in(root_folder_path: str, dataset_name: str, *, seed: int = 0) -> str:
    """Write one dataset's stand-in under root_folder_path (once) and return its folder."""
    folder_path = os.path.join(root_folder_path, STAND_IN_FOLDERS[dataset_name])
    if not os.path.isdir(folder_path):
        os.makedirs(root_folder_path, exist_ok=True)
        with atomic_folder(folder_path) as partial_folder_path:
            WRITERS[dataset_name](partial_folder_path, Painter(seed))
    return folder_path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root_folder_path", required=True)
    parser.add_argument("--dataset_names", default=",".join(WRITERS))
    arguments = parser.parse_args(argv)
    for name in arguments.dataset_names.split(","):
        if name not in WRITERS:
            print(f"Error: no stand-in for {name!r}; expected one of {', '.join(WRITERS)}.")
            return 1
        print(f"{name}: {write_stand_in(arguments.root_folder_path, name)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
