"""A generated tracking sequence: people of the synthetic dataset's kind (datasets/synthetic.py)
walking across one static camera's view, with exact ground truth, since no MOT video can be
downloaded where the tests run.

People enter from the left or the right at a depth (lower in the frame is nearer and larger),
walk, stop now and then and turn around, and leave. Those nearer the camera hide those behind
them, and two pillars hide everyone passing behind them, so identities meet, cross and disappear
for a while: what a tracker's appearance model is for. A person walking left is drawn mirrored,
as in datasets/synthetic.py, so a bag changes side when its owner turns.

Ground truth: each person's tight box around the pixels drawn for them and the share of those
pixels that stays visible. Detections: the ground-truth boxes of people at least
MIN_DETECTED_VISIBILITY visible, with noise on the box, a score that falls with occlusion, some
missed at random, and a few false boxes on the background.
"""

import os
from dataclasses import dataclass

import cv2
import numpy as np

from datasets.synthetic import Appearance, draw_person, random_appearance, random_camera

SENTINEL = np.array([1.0, 2.0, 3.0], np.float32)  # a colour no palette of synthetic.py contains
MIN_DETECTED_VISIBILITY = 0.45


@dataclass(frozen=True)
class SceneSettings:
    frame_num: int = 300
    frame_height: int = 360
    frame_width: int = 640
    person_num: int = 14  # people who appear over the sequence
    frame_rate: int = 25
    missed_detection_rate: float = 0.05
    false_detection_rate: float = 0.03  # false boxes per frame
    seed: int = 0


@dataclass
class Walker:
    identity_ID: int
    appearance: Appearance
    first_frame: int
    feet_y: float  # the depth: the row of the feet
    x: float  # the centre
    velocity: float  # pixels per frame, at this depth
    pause_frames: int = 0
    drawing_seed: int = 0


def person_height(settings: SceneSettings, feet_y: float) -> float:
    """Taller nearer the camera: a third of the frame at the horizon line, 0.55 at the bottom."""
    nearness = (feet_y - 0.55 * settings.frame_height) / (0.45 * settings.frame_height)
    return settings.frame_height * (0.33 + 0.22 * nearness)


def make_walkers(settings: SceneSettings, rng: np.random.Generator) -> list[Walker]:
    walkers = []
    for index in range(settings.person_num):
        from_left = rng.random() < 0.5
        feet_y = float(rng.uniform(0.62, 0.98) * settings.frame_height)
        speed = float(rng.uniform(1.2, 3.2)) * person_height(settings, feet_y) / 120
        height = person_height(settings, feet_y)
        walkers.append(
            Walker(
                identity_ID=index + 1,
                appearance=random_appearance(rng),
                first_frame=int(rng.integers(0, max(1, settings.frame_num - 60))),
                feet_y=feet_y,
                x=-0.25 * height if from_left else settings.frame_width + 0.25 * height,
                velocity=speed if from_left else -speed,
                drawing_seed=int(rng.integers(2**31)),
            )
        )
    return walkers


def step(walker: Walker, settings: SceneSettings, rng: np.random.Generator) -> None:
    """One frame of walking: now and then a pause, a turn, a slight change of depth."""
    if walker.pause_frames > 0:
        walker.pause_frames -= 1
        return
    if rng.random() < 0.008:
        walker.pause_frames = int(rng.integers(8, 40))
    if rng.random() < 0.006:
        walker.velocity = -walker.velocity
    walker.x += walker.velocity
    walker.feet_y = float(
        np.clip(
            walker.feet_y + rng.normal(0, 0.4),
            0.62 * settings.frame_height,
            0.98 * settings.frame_height,
        )
    )


def draw_walker(walker: Walker, settings: SceneSettings, frame_index: int):
    """(patch RGB float32, mask bool, left, top) of the walker at this frame, facing its way."""
    height = int(round(person_height(settings, walker.feet_y)))
    width = height // 2
    patch = np.empty((height, width, 3), np.float32)
    patch[:] = SENTINEL
    # The same seed for a person and frame: the stride and jitter of a walking step.
    draw_person(patch, walker.appearance, np.random.default_rng([walker.drawing_seed, frame_index]))
    if walker.velocity < 0:
        patch = patch[:, ::-1]
    mask = np.any(patch != SENTINEL, axis=2)
    left = int(round(walker.x - width / 2))
    top = int(round(walker.feet_y - height))
    return patch, mask, left, top


def pillars(settings: SceneSettings) -> list[tuple[int, int]]:
    """Columns (x0, x1) of the two pillars in front of everyone."""
    width = settings.frame_width
    pillar_width = max(8, width // 22)
    return [(int(width * share), int(width * share) + pillar_width) for share in (0.3, 0.68)]


@dataclass
class Sequence:
    frames: list  # RGB uint8 (height, width, 3)
    ground_truth: np.ndarray  # rows: frame (1-based), identity, x, y, w, h, visibility
    detections: np.ndarray  # rows: frame (1-based), x, y, w, h, score
    frame_rate: int


def generate_sequence(settings: SceneSettings = SceneSettings()) -> Sequence:
    rng = np.random.default_rng(settings.seed)
    camera = random_camera(rng)
    height, width = settings.frame_height, settings.frame_width
    background = draw_background_scene(camera, settings, rng)
    walkers = make_walkers(settings, rng)
    frames, ground_truth, detections = [], [], []
    for frame_index in range(settings.frame_num):
        image = background.copy()
        owner = np.zeros((height, width), np.int32)  # who is seen at each pixel, 0: nobody
        present = []
        for walker in walkers:
            if walker.first_frame > frame_index:
                continue
            if walker.first_frame < frame_index:
                step(walker, settings, rng)
            patch, mask, left, top = draw_walker(walker, settings, frame_index)
            if left >= width or left + patch.shape[1] <= 0:
                continue
            present.append((walker, patch, mask, left, top))
        present.sort(key=lambda item: item[0].feet_y)  # far first: the near hide the far
        drawn = {}
        for walker, patch, mask, left, top in present:
            x0, x1 = max(0, left), min(width, left + patch.shape[1])
            y0, y1 = max(0, top), min(height, top + patch.shape[0])
            visible_mask = mask[y0 - top : y1 - top, x0 - left : x1 - left]
            region = image[y0:y1, x0:x1]
            region[visible_mask] = patch[y0 - top : y1 - top, x0 - left : x1 - left][visible_mask]
            owner[y0:y1, x0:x1][visible_mask] = walker.identity_ID
            drawn[walker.identity_ID] = (mask, left, top)
        for x0, x1 in pillars(settings):
            image[:, x0:x1] = camera.background_top * 0.55
            owner[:, x0:x1] = 0
        seen = np.bincount(owner.ravel(), minlength=settings.person_num + 1)
        for identity_ID, (mask, left, top) in drawn.items():
            box, pixel_num = tight_box(mask, left, top, (height, width))
            if box is None:
                continue
            visibility = seen[identity_ID] / pixel_num
            ground_truth.append((frame_index + 1, identity_ID, *box, visibility))
            detected = visibility >= MIN_DETECTED_VISIBILITY
            if detected and rng.random() >= settings.missed_detection_rate:
                detections.append((frame_index + 1, *noisy_box(box, visibility, rng)))
        if rng.random() < settings.false_detection_rate:
            detections.append((frame_index + 1, *false_box(settings, rng)))
        image = image * camera.gain + camera.color_cast + rng.normal(0, 4, size=image.shape)
        frames.append(np.clip(image, 0, 255).astype(np.uint8))
    return Sequence(
        frames=frames,
        ground_truth=np.array(ground_truth, np.float64).reshape(-1, 7),
        detections=np.array(detections, np.float64).reshape(-1, 6),
        frame_rate=settings.frame_rate,
    )


def draw_background_scene(camera, settings: SceneSettings, rng) -> np.ndarray:
    height, width = settings.frame_height, settings.frame_width
    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    image = (1 - rows) * camera.background_top + rows * camera.background_bottom
    image = np.repeat(image, width, axis=1)
    horizon = int(0.45 * height)
    image[horizon:] = image[horizon:] * 0.8 + 20  # the floor
    for _ in range(6):  # shop fronts, signs
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, horizon))
        color = (camera.background_top * rng.uniform(0.5, 1.4)).tolist()
        far_corner = (x0 + int(rng.integers(20, 120)), horizon)
        cv2.rectangle(image, (x0, y0), far_corner, color, thickness=-1)
    return image


def tight_box(mask, left: int, top: int, frame_shape):
    """The box (x, y, w, h) around the mask's pixels inside the frame, and the pixel count."""
    height, width = frame_shape
    rows, columns = np.nonzero(mask)
    rows, columns = rows + top, columns + left
    inside = (rows >= 0) & (rows < height) & (columns >= 0) & (columns < width)
    if inside.sum() < 20:
        return None, 0
    rows, columns = rows[inside], columns[inside]
    x0, y0 = columns.min(), rows.min()
    box = (float(x0), float(y0), float(columns.max() + 1 - x0), float(rows.max() + 1 - y0))
    return box, int(inside.sum())


def noisy_box(box, visibility: float, rng: np.random.Generator):
    x, y, w, h = box
    center_x = x + w / 2 + rng.normal(0, 0.03 * w)
    center_y = y + h / 2 + rng.normal(0, 0.02 * h)
    w, h = w * (1 + rng.normal(0, 0.04)), h * (1 + rng.normal(0, 0.03))
    score = float(np.clip(0.45 + 0.5 * visibility + rng.normal(0, 0.05), 0.3, 0.99))
    return center_x - w / 2, center_y - h / 2, w, h, score


def false_box(settings: SceneSettings, rng: np.random.Generator):
    h = float(rng.uniform(0.2, 0.4) * settings.frame_height)
    w = h / 2
    x = float(rng.uniform(0, settings.frame_width - w))
    y = float(rng.uniform(0.2, 0.6) * settings.frame_height)
    return x, y, w, h, float(rng.uniform(0.3, 0.6))


def write_sequence(folder_path: str, sequence: Sequence) -> None:
    """MOT Challenge's layout: img1/000001.jpg..., det/det.txt, gt/gt.txt, seqinfo.ini; written
    under a temporary name and renamed when complete."""
    from atomic_files import atomic_folder, write_atomically

    from .mot_files import write_detections, write_ground_truth

    with atomic_folder(folder_path) as partial_path:
        for name in ("img1", "det", "gt"):
            os.makedirs(os.path.join(partial_path, name))
        for index, frame in enumerate(sequence.frames, start=1):
            cv2.imwrite(
                os.path.join(partial_path, "img1", f"{index:06d}.jpg"),
                cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 95],
            )
        write_detections(os.path.join(partial_path, "det", "det.txt"), sequence.detections)
        write_ground_truth(os.path.join(partial_path, "gt", "gt.txt"), sequence.ground_truth)
        height, width = sequence.frames[0].shape[:2]
        write_atomically(
            os.path.join(partial_path, "seqinfo.ini"),
            f"[Sequence]\nname={os.path.basename(folder_path)}\nimDir=img1\n"
            f"frameRate={sequence.frame_rate}\nseqLength={len(sequence.frames)}\n"
            f"imWidth={width}\nimHeight={height}\nimExt=.jpg\n",
        )
