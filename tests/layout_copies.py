"""Copies of a generated Market1501 tree in the layouts of other datasets, file names and list
files as the real ones have them: CUHK03-NP (labeled, detected) and MSMT17 (either version)."""

import os
import re

import cv2

SPLITS = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}
MARKET_NAME = re.compile(r"^(?P<identity>-1|\d+)_c(?P<camera>\d+)")


def market_images(market_folder: str, split: str) -> list[tuple[str, int, int]]:
    """(path, identity, camera) of a split's images, junk (-1) and distractors (0) left out."""
    images = []
    for name in sorted(os.listdir(os.path.join(market_folder, SPLITS[split]))):
        match = MARKET_NAME.match(name)
        if match and int(match["identity"]) > 0:
            path = os.path.join(market_folder, SPLITS[split], name)
            images.append((path, int(match["identity"]), int(match["camera"])))
    return images


def write_cuhk03_np(root: str, market_folder: str, variant: str) -> None:
    """root/cuhk03-np/{variant}/{bounding_box_train,query,bounding_box_test}/0001_c1_1.png:
    PNG files, identity, camera (1 or 2: CUHK03 pairs two cameras) and a running number."""
    for split, folder in SPLITS.items():
        target = os.path.join(root, "cuhk03-np", variant, folder)
        os.makedirs(target, exist_ok=True)
        counts: dict[tuple[int, int], int] = {}
        for path, identity, camera in market_images(market_folder, split):
            image = cv2.imread(path)
            if image is None:
                continue  # an unreadable file some tests plant: CUHK03-NP has none
            camera = 1 + camera % 2
            counts[identity, camera] = counts.get((identity, camera), 0) + 1
            name = f"{identity:04d}_c{camera}_{counts[identity, camera]}.png"
            cv2.imwrite(os.path.join(target, name), image)


def write_msmt17(root: str, market_folder: str, version: int) -> None:
    """root/MSMT17_V{version}/ with its image folders (train/ and test/, or mask_train_v2/ and
    mask_test_v2/) of <identity>/<identity>_<n>_<camera>_0303morning_<n>_0.jpg and the four
    list files; identities renumbered from 0 in training and in test, as in MSMT17."""
    base = os.path.join(root, f"MSMT17_V{version}")
    train_folder, test_folder = (
        ("train", "test") if version == 1 else ("mask_train_v2", "mask_test_v2")
    )
    test_identities = sorted(
        {
            identity
            for split in ("query", "gallery")
            for _, identity, _ in market_images(market_folder, split)
        }
    )
    numbering = {
        "train": {
            i: n
            for n, i in enumerate(sorted({i for _, i, _ in market_images(market_folder, "train")}))
        },
        "query": {i: n for n, i in enumerate(test_identities)},
    }
    numbering["gallery"] = numbering["query"]
    lists = {"list_train.txt": [], "list_val.txt": [], "list_query.txt": [], "list_gallery.txt": []}
    for split in SPLITS:
        folder = train_folder if split == "train" else test_folder
        for index, (path, identity, camera) in enumerate(market_images(market_folder, split)):
            number = numbering[split][identity]
            relative = (
                f"{number:04d}/{number:04d}_{index:03d}_{camera:02d}_0303morning_{index:04d}_0.jpg"
            )
            os.makedirs(os.path.join(base, folder, f"{number:04d}"), exist_ok=True)
            with (
                open(path, "rb") as source,
                open(os.path.join(base, folder, relative), "wb") as copy,
            ):
                copy.write(source.read())
            list_name = f"list_{split}.txt"
            if split == "train" and index % 10 == 9:
                list_name = "list_val.txt"  # MSMT17 keeps a validation list, part of training
            lists[list_name].append(f"{relative} {number}")
    for name, lines in lists.items():
        with open(os.path.join(base, name), "w") as list_file:
            list_file.write("\n".join(lines) + "\n")


def write_dukemtmc_reid(root: str, market_folder: str) -> None:
    """root/DukeMTMC-reID/{bounding_box_train,query,bounding_box_test}/0001_c2_f0046182.jpg:
    the Market tree's people (distractors 0000 kept in the gallery, junk left out) under
    DukeMTMC-reID's file names: identity, camera, frame."""
    frame = 46182
    for folder in SPLITS.values():
        target = os.path.join(root, "DukeMTMC-reID", folder)
        os.makedirs(target, exist_ok=True)
        for name in sorted(os.listdir(os.path.join(market_folder, folder))):
            match = MARKET_NAME.match(name)
            if not match or int(match["identity"]) < 0:
                continue
            frame += 1
            duke_name = f"{int(match['identity']):04d}_c{match['camera']}_f{frame:07d}.jpg"
            with (
                open(os.path.join(market_folder, folder, name), "rb") as source,
                open(os.path.join(target, duke_name), "wb") as copy,
            ):
                copy.write(source.read())
