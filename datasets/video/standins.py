"""Small generated stand-ins of the video datasets, each in its real folder layout, file-name
grammar and .mat structure (few identities, 64 x 32 frames drawn by datasets/synthetic.py's
person renderer), for the tests and for trying the commands without the real data:

    python3 -m datasets.video.standins --output_folder_path ./data

writes ./data/mars, ./data/ilids-vid, ./data/prid2011 and ./data/dukemtmc-vidreid (a folder that
exists already is left as it is), each with a STANDIN.txt saying what it is. Each is written
under a temporary name and renamed when complete.
"""

import argparse
import os

import cv2
import numpy as np
from scipy.io import savemat

from atomic_files import atomic_folder, write_atomically

from ..synthetic import random_appearance, random_camera, render_image

FRAME_HEIGHT, FRAME_WIDTH = 64, 32
STANDIN_NOTE = (
    "A generated stand-in of {name} in its real layout, written by datasets/video/standins.py "
    "for tests and demonstrations. It is not the real dataset: its numbers mean nothing.\n"
)


class FrameWriter:
    """Draws the frames of one dataset: an appearance per identity, a look per camera."""

    def __init__(self, seed: int, camera_num: int):
        self.rng = np.random.default_rng(seed)
        self.cameras = [random_camera(self.rng) for _ in range(camera_num)]
        self.appearances = {}

    def write(self, path: str, identity_ID: int, camera_ID: int) -> None:
        """One frame of identity_ID (-1: a junk frame without a person) seen by camera_ID."""
        if identity_ID not in self.appearances and identity_ID != -1:
            self.appearances[identity_ID] = random_appearance(self.rng)
        image = render_image(
            self.appearances.get(identity_ID),
            self.cameras[camera_ID - 1],
            height=FRAME_HEIGHT,
            width=FRAME_WIDTH,
            rng=self.rng,
        )
        os.makedirs(os.path.dirname(path), exist_ok=True)
        cv2.imwrite(path, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


def write_mars(folder_path: str, seed: int = 0) -> None:
    """mars/: 8 training identities (2 tracklets each), 6 test identities seen by 2 or 3 of 6
    cameras (1 or 2 tracklets per camera), 2 distractor and 2 junk tracklets; query_IDX names one
    tracklet per test identity and camera."""
    writer = FrameWriter(seed, camera_num=6)
    rng = writer.rng
    train = [
        (identity, int(camera)) for identity in range(1, 9) for camera in (1, 2 + identity % 5)
    ]
    test = [(-1, 1), (-1, 4), (0, 2), (0, 5)]
    for identity in range(11, 17):
        for camera in sorted(rng.choice(6, size=int(rng.integers(2, 4)), replace=False) + 1):
            test += [(identity, int(camera))] * int(rng.integers(1, 3))
    for split, tracks in (("train", train), ("test", test)):
        names, rows, query_rows, counters = [], [], [], {}
        for identity, camera in sorted(tracks, key=lambda track: identity_text(track[0])):
            number = counters[identity, camera] = counters.get((identity, camera), 0) + 1
            if number == 1 and identity > 0:
                query_rows.append(len(rows) + 1)  # MARS: one query per identity and camera
            frame_num = int(rng.integers(3, 7))
            rows.append([len(names) + 1, len(names) + frame_num, identity, camera])
            for frame in range(1, frame_num + 1):
                name = f"{identity_text(identity)}C{camera}T{number:04d}F{frame:03d}.jpg"
                names.append(name)
                writer.write(
                    os.path.join(folder_path, f"bbox_{split}", identity_text(identity), name),
                    identity,
                    camera,
                )
        info_path = os.path.join(folder_path, "info")
        os.makedirs(info_path, exist_ok=True)
        write_atomically(os.path.join(info_path, f"{split}_name.txt"), "\n".join(names) + "\n")
        savemat(
            os.path.join(info_path, f"tracks_{split}_info.mat"),
            {f"track_{split}_info": np.array(rows, dtype=np.int32)},
        )
        if split == "test":
            savemat(
                os.path.join(info_path, "query_IDX.mat"),
                {"query_IDX": np.array([query_rows], dtype=np.uint16)},
            )


def identity_text(identity_ID: int) -> str:
    return "00-1" if identity_ID == -1 else f"{identity_ID:04d}"


def write_ilids_vid(folder_path: str, seed: int = 0) -> None:
    """ilids-vid/: 12 people (numbers with gaps, as the release's), a sequence of 3 to 5 frames
    in each camera; ls_set holds ten orders of the 12 (the first 6 for testing)."""
    writer = FrameWriter(seed, camera_num=2)
    rng = writer.rng
    people = sorted(rng.choice(np.arange(1, 320), size=12, replace=False))
    for person in people:
        for camera in (1, 2):
            for frame in range(int(rng.integers(3, 6))):
                name = f"cam{camera}_person{person:03d}_{100 + 7 * frame:05d}.png"
                sequence = f"i-LIDS-VID/sequences/cam{camera}/person{person:03d}"
                path = os.path.join(folder_path, sequence, name)
                writer.write(path, int(person), camera)
    orders = np.array([rng.permutation(len(people)) + 1 for _ in range(10)], dtype=np.float64)
    splits_path = os.path.join(folder_path, "train-test people splits")
    os.makedirs(splits_path)
    savemat(os.path.join(splits_path, "train_test_splits_ilidsvid.mat"), {"ls_set": orders})


def write_prid2011(folder_path: str, seed: int = 0) -> None:
    """prid2011/: person_0001 to person_0200 in both cameras (2 frames each, as the shipped
    splits name all 200), and people seen by one camera only (cam_a 201 and 202, cam_b 201 to
    204), which the protocol leaves out."""
    writer = FrameWriter(seed, camera_num=2)
    for camera, last_person in (("a", 202), ("b", 204)):
        for person in range(1, last_person + 1):
            for frame in (1, 2):
                sequence = f"prid_2011/multi_shot/cam_{camera}/person_{person:04d}"
                path = os.path.join(folder_path, sequence, f"{frame:04d}.png")
                writer.write(path, person, 1 if camera == "a" else 2)


def write_dukemtmc_video(folder_path: str, seed: int = 0) -> None:
    """dukemtmc-vidreid/DukeMTMC-VideoReID/: 6 training identities (2 tracklets each), 4 test
    identities with a query tracklet and 1 or 2 gallery tracklets in other cameras, and 2
    distractor identities in the gallery; 3 to 5 frames a tracklet."""
    writer = FrameWriter(seed, camera_num=8)
    rng = writer.rng
    base = os.path.join(folder_path, "DukeMTMC-VideoReID")
    tracks = [("train", identity, camera) for identity in range(1, 7) for camera in (1, 2)]
    for identity in range(21, 25):
        tracks.append(("query", identity, 3))
        tracks += [("gallery", identity, 4 + k) for k in range(int(rng.integers(1, 3)))]
    tracks += [("gallery", 31, 6), ("gallery", 32, 7)]
    numbers = {}
    for split, identity, camera in tracks:
        number = numbers[identity] = numbers.get(identity, 0) + 1
        first_frame = int(rng.integers(1, 90))
        for frame in range(first_frame, first_frame + int(rng.integers(3, 6))):
            name = f"{identity:04d}_C{camera}_F{frame:04d}_X{int(rng.integers(10000, 99999))}.jpg"
            writer.write(
                os.path.join(base, split, f"{identity:04d}/{number:04d}", name),
                identity,
                camera,
            )


STANDINS = {  # folder under the output folder: (dataset name, writer)
    "mars": ("MARS", write_mars),
    "ilids-vid": ("iLIDS_VID", write_ilids_vid),
    "prid2011": ("PRID2011_video", write_prid2011),
    "dukemtmc-vidreid": ("DukeMTMC_VideoReID", write_dukemtmc_video),
}


def write_standins(output_folder_path: str, seed: int = 0) -> list[str]:
    """Write each stand-in whose folder does not exist yet; returns the folders written."""
    written = []
    for folder_name, (dataset_name, write) in STANDINS.items():
        folder_path = os.path.join(output_folder_path, folder_name)
        if os.path.exists(folder_path):
            continue
        with atomic_folder(folder_path) as partial_path:
            write(partial_path, seed)
            write_atomically(
                os.path.join(partial_path, "STANDIN.txt"), STANDIN_NOTE.format(name=dataset_name)
            )
        written.append(folder_path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output_folder_path", default="./data", help="Where to write them.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the drawn frames.")
    arguments = parser.parse_args()
    written = write_standins(arguments.output_folder_path, arguments.seed)
    for folder_name in STANDINS:
        path = os.path.join(arguments.output_folder_path, folder_name)
        state = "written" if path in written else "exists already, left as it is"
        print(f"{path}: {state}")


if __name__ == "__main__":
    main()
