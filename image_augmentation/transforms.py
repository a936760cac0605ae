"""The training augmentation of FlipReID (docs/method.md): pad by 5% and crop back, mirror,
grayscale patch, random erasing, with the random draws of the 2021 release's code (its
albumentations 0.5 pipeline and its own two patch transforms).

The input pipeline draws each image's parameters with sample_augmentation (from a generator
seeded by the image's number in the run) and applies them to a whole batch with
apply_augmentation: OpenCV and NumPy, which release the GIL for the pixel work, so the pipeline
scales with its workers (albumentations spends most of its time in Python, under the GIL).
"""

import cv2
import numpy as np

from settings import AugmentationSettings

FILL_COLOR = (123.68, 116.779, 103.939)  # ImageNet mean in 0..255: neutral after normalisation
# OpenCV rounds the padding colour into uint8 (124, 117, 104); the 2021 random erasing assigns the
# floats into a uint8 array, which NumPy truncates (123, 116, 103). Both are kept as they were.
PADDING_COLOR = tuple(int(value) for value in np.round(FILL_COLOR))
ERASING_COLOR = tuple(int(value) for value in np.array(FILL_COLOR).astype(np.uint8))


# One image's parameters as int32 values, in this order (a patch of height 0 is no patch).
PARAMETER_NAMES = (
    "crop_top",
    "crop_left",
    "mirror",
    "gray_top",
    "gray_left",
    "gray_height",
    "gray_width",
    "erased_top",
    "erased_left",
    "erased_height",
    "erased_width",
)


def padding(image_height: int, image_width: int) -> tuple[int, int]:
    """Rows and columns added (then cropped away at random): int(5%) of each side's length."""
    return int(0.05 * image_height), int(0.05 * image_width)


def sample_augmentation(
    rng: np.random.Generator, *, image_size: tuple[int, int], settings: AugmentationSettings
) -> np.ndarray:
    """The parameters (PARAMETER_NAMES) of one image's augmentation.

    The padded image is cropped back at an offset int(pad * u), u uniform in [0, 1): what
    albumentations' RandomCrop did before version 1.1 (its PR 1080 added the last offset), so
    the crop never starts at the last row or column; then it is mirrored with probability 0.5
    and given a grayscale patch and an erased patch with their probabilities.
    """
    image_height, image_width = image_size
    pad_height, pad_width = padding(image_height, image_width)
    parameters = [
        int(pad_height * rng.random()),
        int(pad_width * rng.random()),
        int(rng.random() < 0.5),
    ]
    for probability in (
        settings.patch_replacement_probability,
        settings.random_erasing_probability,
    ):
        patch = sample_patch(rng, image_height, image_width) if rng.random() < probability else None
        parameters += patch or (0, 0, 0, 0)
    return np.array(parameters, dtype=np.int32)


def apply_augmentation(images: np.ndarray, parameters: np.ndarray) -> np.ndarray:
    """(n, H, W, 3) uint8 images and their (n, len(PARAMETER_NAMES)) parameters -> augmented
    (n, H, W, 3) uint8 images."""
    height, width = images.shape[1:3]
    pad_height, pad_width = padding(height, width)
    borders = dict(  # split evenly, the extra row or column at the bottom or right
        top=pad_height // 2,
        bottom=pad_height - pad_height // 2,
        left=pad_width // 2,
        right=pad_width - pad_width // 2,
    )
    erasing_color = np.array(ERASING_COLOR, dtype=np.uint8)
    augmented = np.empty_like(images)
    for image, values, target in zip(images, parameters, augmented, strict=True):
        crop_top, crop_left, mirror, *patches = (int(value) for value in values)
        padded = cv2.copyMakeBorder(
            image, **borders, borderType=cv2.BORDER_CONSTANT, value=PADDING_COLOR
        )
        cropped = padded[crop_top : crop_top + height, crop_left : crop_left + width]
        target[...] = cropped[:, ::-1] if mirror else cropped
        gray_top, gray_left, gray_height, gray_width = patches[:4]
        if gray_height and gray_width:
            region = target[gray_top : gray_top + gray_height, gray_left : gray_left + gray_width]
            region[...] = cv2.cvtColor(np.ascontiguousarray(region), cv2.COLOR_RGB2GRAY)[..., None]
        erased_top, erased_left, erased_height, erased_width = patches[4:]
        target[
            erased_top : erased_top + erased_height, erased_left : erased_left + erased_width
        ] = erasing_color
    return augmented


def sample_patch(
    rng: np.random.Generator,
    height: int,
    width: int,
    area_range=(0.02, 0.4),
    aspect_ratio_low: float = 0.3,
    attempt_num: int = 100,
) -> tuple[int, int, int, int] | None:
    """(top, left, patch height, patch width) of a random rectangle, or None after the attempts,
    drawn as the 2021 release's random erasing (Zhong et al., arXiv 1708.04896) and grayscale
    patch replacement (Gong et al., arXiv 2101.08533) draw theirs.

    Per attempt: area uniform in area_range (a fraction of the image), aspect ratio (height /
    width) uniform in [aspect_ratio_low, 1 / aspect_ratio_low]; the rectangle is accepted when
    it is narrower and lower than the image, and its corner is drawn with an exclusive upper
    bound (NumPy's randint), so it never touches the bottom or right edge.
    """
    for _ in range(attempt_num):
        area = rng.uniform(*area_range) * height * width
        aspect_ratio = rng.uniform(aspect_ratio_low, 1 / aspect_ratio_low)
        patch_height = int(round(np.sqrt(area * aspect_ratio)))
        patch_width = int(round(np.sqrt(area / aspect_ratio)))
        if patch_height < height and patch_width < width:
            top = int(rng.integers(0, height - patch_height))
            left = int(rng.integers(0, width - patch_width))
            return top, left, patch_height, patch_width
    return None
