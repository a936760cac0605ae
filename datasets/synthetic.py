"""A generated person ReID dataset in the Market1501 layout, for demos and tests without downloads.

Each identity is a person-like figure: hair, skin, a shirt with one of four patterns in two
colours, trousers, shoes, and left-right asymmetric traits (a bag on one side, a stripe on one
sleeve). Colours come from small palettes, so identities share single traits and only their
combination identifies them. Each image adds camera-dependent lighting, colour cast and
background, pose and scale jitter, and a walking direction: half the views are mirrored, which
moves the bag to the other side of the image, as in real footage.

Splits (defaults): about 100 training identities with 2 to 16 images each (a few with fewer than
4, as in real data), and 100 test identities seen by 2 to 4 of 6 cameras, with 1 or 2 query
images and 2 to 4 gallery images per camera, plus distractors (identity 0000) and junk (-1)
in the gallery. The tree is written under a temporary name and renamed when complete, so an
interrupted run never leaves a half-written dataset that would later be read as whole.
"""

import os
from dataclasses import dataclass

import cv2
import numpy as np

from atomic_files import atomic_folder
from settings import SyntheticSettings

from .folder_datasets import MARKET1501, SPLIT_FOLDER_NAMES

PALETTE = np.array(  # RGB, shared by shirts, trousers and bags
    [
        (200, 30, 30),
        (30, 110, 200),
        (40, 160, 60),
        (230, 200, 40),
        (240, 240, 240),
        (25, 25, 25),
        (130, 60, 160),
        (240, 130, 30),
        (110, 110, 110),
        (130, 80, 40),
        (240, 150, 180),
        (20, 40, 90),
    ],
    dtype=np.float32,
)
HAIR_COLORS = np.array(
    [(20, 15, 10), (90, 55, 25), (200, 170, 90), (140, 140, 140), (150, 40, 20)], dtype=np.float32
)
SKIN_COLORS = np.array([(240, 200, 170), (200, 150, 110), (140, 95, 60), (95, 60, 40)], np.float32)
PATTERNS = ("plain", "horizontal_stripes", "vertical_stripes", "checks")


@dataclass(frozen=True)
class Appearance:
    """What makes one identity recognisable."""

    shirt_color: np.ndarray
    shirt_second_color: np.ndarray
    shirt_pattern: str
    trousers_color: np.ndarray
    shoes_color: np.ndarray
    hair_color: np.ndarray
    skin_color: np.ndarray
    bag_side: int  # -1 left, +1 right, 0 no bag (the person's side, before mirroring)
    bag_color: np.ndarray
    sleeve_stripe_side: int  # -1, +1 or 0, like bag_side
    sleeve_stripe_color: np.ndarray
    body_width: float  # relative to the image width
    body_height: float  # relative to the image height


def random_appearance(rng: np.random.Generator) -> Appearance:
    def palette_color() -> np.ndarray:
        return PALETTE[rng.integers(len(PALETTE))]

    return Appearance(
        shirt_color=palette_color(),
        shirt_second_color=palette_color(),
        shirt_pattern=PATTERNS[rng.integers(len(PATTERNS))],
        trousers_color=palette_color(),
        shoes_color=PALETTE[rng.choice([4, 5, 8, 9])],
        hair_color=HAIR_COLORS[rng.integers(len(HAIR_COLORS))],
        skin_color=SKIN_COLORS[rng.integers(len(SKIN_COLORS))],
        bag_side=int(rng.choice([-1, 0, 1])),
        bag_color=palette_color(),
        sleeve_stripe_side=int(rng.choice([-1, 0, 0, 1])),
        sleeve_stripe_color=palette_color(),
        body_width=float(rng.uniform(0.34, 0.46)),
        body_height=float(rng.uniform(0.82, 0.92)),
    )


@dataclass(frozen=True)
class Camera:
    gain: float
    color_cast: np.ndarray
    background_top: np.ndarray
    background_bottom: np.ndarray


def random_camera(rng: np.random.Generator) -> Camera:
    return Camera(
        gain=float(rng.uniform(0.65, 1.25)),
        color_cast=rng.uniform(-25, 25, size=3).astype(np.float32),
        background_top=rng.uniform(60, 200, size=3).astype(np.float32),
        background_bottom=rng.uniform(40, 160, size=3).astype(np.float32),
    )


def draw_background(
    camera: Camera, *, height: int, width: int, rng: np.random.Generator
) -> np.ndarray:
    weights = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    image = (1 - weights) * camera.background_top + weights * camera.background_bottom
    image = np.repeat(image, width, axis=1)
    for _ in range(rng.integers(1, 4)):  # clutter: poles, signs, parked things
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        x1, y1 = x0 + rng.integers(3, width // 2), y0 + rng.integers(3, height // 3)
        color = camera.background_top * rng.uniform(0.5, 1.4)
        cv2.rectangle(image, (int(x0), int(y0)), (int(x1), int(y1)), color.tolist(), thickness=-1)
    return image


def draw_person(image: np.ndarray, appearance: Appearance, rng: np.random.Generator) -> None:
    """Draw in place, facing the viewer; the caller mirrors for the other walking direction."""
    height, width = image.shape[:2]
    scale = rng.uniform(0.88, 1.04)
    center_x = width * (0.5 + rng.uniform(-0.06, 0.06))
    top = height * (1 - appearance.body_height * scale) * rng.uniform(0.3, 0.7)
    body_height = height * appearance.body_height * scale
    half_width = width * appearance.body_width * scale / 2

    def y(fraction: float) -> int:
        return int(round(top + fraction * body_height))

    def x(fraction: float) -> int:  # fraction of half_width, negative to the image's left
        return int(round(center_x + fraction * half_width))

    head_radius = max(2, int(round(0.075 * body_height)))
    cv2.circle(image, (x(0), y(0.08)), head_radius, appearance.skin_color.tolist(), thickness=-1)
    cv2.ellipse(
        image,
        center=(x(0), y(0.055)),
        axes=(head_radius, int(head_radius * 0.7)),
        angle=0,
        startAngle=180,
        endAngle=360,
        color=appearance.hair_color.tolist(),
        thickness=-1,
    )
    stride = rng.uniform(0.0, 0.35)  # legs apart while walking
    for side in (-1, 1):
        leg = np.array(
            [
                [x(side * 0.05), y(0.52)],
                [x(side * 0.55), y(0.52)],
                [x(side * (0.5 + stride)), y(0.95)],
                [x(side * (0.1 + stride)), y(0.95)],
            ]
        )
        cv2.fillPoly(image, [leg.astype(np.int32)], appearance.trousers_color.tolist())
        cv2.rectangle(
            image,
            (x(side * (0.1 + stride)), y(0.94)),
            (x(side * (0.55 + stride)), y(1.0)),
            appearance.shoes_color.tolist(),
            thickness=-1,
        )
    torso_top_left, torso_bottom_right = (x(-0.75), y(0.17)), (x(0.75), y(0.55))
    cv2.rectangle(
        image, torso_top_left, torso_bottom_right, appearance.shirt_color.tolist(), thickness=-1
    )
    draw_pattern(image, appearance, torso_top_left, torso_bottom_right)
    for side in (-1, 1):  # sleeves, then the stripe on one of them
        arm_x0, arm_x1 = sorted((x(side * 0.75), x(side * 1.0)))
        cv2.rectangle(
            image,
            (arm_x0, y(0.18)),
            (arm_x1, y(0.5)),
            appearance.shirt_color.tolist(),
            thickness=-1,
        )
        cv2.rectangle(
            image, (arm_x0, y(0.5)), (arm_x1, y(0.56)), appearance.skin_color.tolist(), thickness=-1
        )
        if side == appearance.sleeve_stripe_side:
            cv2.rectangle(
                image,
                (arm_x0, y(0.27)),
                (arm_x1, y(0.33)),
                appearance.sleeve_stripe_color.tolist(),
                thickness=-1,
            )
    if appearance.bag_side:
        bag_x0, bag_x1 = sorted((x(appearance.bag_side * 0.9), x(appearance.bag_side * 1.45)))
        cv2.rectangle(
            image, (bag_x0, y(0.36)), (bag_x1, y(0.6)), appearance.bag_color.tolist(), thickness=-1
        )
        cv2.line(
            image,
            (x(-appearance.bag_side * 0.5), y(0.18)),
            ((bag_x0 + bag_x1) // 2, y(0.36)),
            appearance.bag_color.tolist(),
            thickness=max(1, width // 40),
        )


def draw_pattern(image, appearance: Appearance, top_left, bottom_right) -> None:
    (x0, y0), (x1, y1) = top_left, bottom_right
    color = appearance.shirt_second_color.tolist()
    step = max(2, (y1 - y0) // 5)
    if appearance.shirt_pattern in ("horizontal_stripes", "checks"):
        for stripe_y in range(y0, y1, 2 * step):
            cv2.rectangle(
                image, (x0, stripe_y), (x1, min(y1, stripe_y + step // 2 + 1)), color, thickness=-1
            )
    if appearance.shirt_pattern in ("vertical_stripes", "checks"):
        for stripe_x in range(x0, x1, 2 * step):
            cv2.rectangle(
                image, (stripe_x, y0), (min(x1, stripe_x + step // 2 + 1), y1), color, thickness=-1
            )


def render_image(
    appearance: Appearance | None,
    camera: Camera,
    *,
    height: int,
    width: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """One RGB uint8 image; appearance None draws background only (a junk detection)."""
    image = draw_background(camera, height=height, width=width, rng=rng)
    if appearance is not None:
        draw_person(image, appearance, rng)
        if rng.random() < 0.5:  # walking the other way
            image = image[:, ::-1]
    image = image * camera.gain * rng.uniform(0.9, 1.1) + camera.color_cast
    image = image + rng.normal(0, 6, size=image.shape)
    if rng.random() < 0.3:
        image = cv2.GaussianBlur(image, (3, 3), 0)
    return np.clip(image, 0, 255).astype(np.uint8)


def generate_synthetic_dataset(
    root_folder_path: str, settings: SyntheticSettings = SyntheticSettings()
) -> str:
    """Write the dataset once and return the folder that holds its Market-1501-v15.09.15 tree.

    A second call with the same settings reads what is there.
    """
    dataset_root_path = os.path.join(root_folder_path, settings.folder_name)
    if not os.path.isdir(dataset_root_path):
        with atomic_folder(dataset_root_path) as partial_root_path:
            write_tree(partial_root_path, settings)
    return dataset_root_path


def write_tree(dataset_root_path: str, settings: SyntheticSettings) -> None:
    train_identity_num = settings.synthetic_train_identity_num
    test_identity_num = settings.synthetic_test_identity_num
    camera_num = settings.synthetic_camera_num
    image_height, image_width = settings.synthetic_image_height, settings.synthetic_image_width
    rng = np.random.default_rng(settings.seed)
    cameras = [random_camera(rng) for _ in range(camera_num)]
    identity_IDs = rng.choice(
        np.arange(1, 10000), train_identity_num + test_identity_num, replace=False
    )
    train_identity_IDs = np.sort(identity_IDs[:train_identity_num])
    test_identity_IDs = np.sort(identity_IDs[train_identity_num:])
    split_folder_paths = {
        split_name: os.path.join(dataset_root_path, MARKET1501.folder_name, folder_name)
        for split_name, folder_name in SPLIT_FOLDER_NAMES.items()
    }
    for folder_path in split_folder_paths.values():
        os.makedirs(folder_path)
    frame_counter = iter(range(1, 10**6))

    def write(split_name: str, identity_ID: int, camera_index: int, appearance) -> None:
        image = render_image(
            appearance, cameras[camera_index], height=image_height, width=image_width, rng=rng
        )
        identity_text = "-1" if identity_ID == -1 else f"{identity_ID:04d}"  # Market's junk names
        file_name = f"{identity_text}_c{camera_index + 1}s1_{next(frame_counter):06d}_00.jpg"
        cv2.imwrite(
            os.path.join(split_folder_paths[split_name], file_name),
            cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_JPEG_QUALITY, 92],
        )

    for identity_ID in train_identity_IDs:
        appearance = random_appearance(rng)
        image_num = int(rng.integers(2, 4)) if rng.random() < 0.05 else int(rng.integers(4, 17))
        for camera_index in rng.integers(0, camera_num, size=image_num):
            write("train", int(identity_ID), int(camera_index), appearance)
    for identity_ID in test_identity_IDs:
        appearance = random_appearance(rng)
        seen_camera_indexes = rng.choice(
            camera_num, size=int(rng.integers(2, min(4, camera_num) + 1)), replace=False
        )
        for camera_index in seen_camera_indexes[: int(rng.integers(1, 3))]:
            write("query", int(identity_ID), int(camera_index), appearance)
        for camera_index in seen_camera_indexes:
            for _ in range(int(rng.integers(2, 5))):
                write("gallery", int(identity_ID), int(camera_index), appearance)
    for _ in range(max(1, test_identity_num // 2)):  # distractors: people outside the test set
        write("gallery", 0, int(rng.integers(camera_num)), random_appearance(rng))
    for _ in range(max(1, test_identity_num // 4)):  # junk: detections without a person
        write("gallery", -1, int(rng.integers(camera_num)), None)
