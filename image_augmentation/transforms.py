"""The training augmentation of FlipReID (docs/method.md): pad by 5% and crop back, mirror,
grayscale patch, random erasing.

The input pipeline draws each image's parameters with sample_augmentation (from a generator
seeded by the image's number in the run) and applies them to a whole batch with
apply_augmentation: OpenCV and NumPy, which release the GIL for the pixel work, so the pipeline
scales with its workers (albumentations spends most of its time in Python, under the GIL).
build_training_augmentation is the same augmentation as albumentations 2 transforms, for one
image; both take their rectangles from sample_patch, and the tests compare the two.
"""

from dataclasses import dataclass

import albumentations as A
import cv2
import numpy as np

from settings_checks import require_fraction

FILL_COLOR = (123.68, 116.779, 103.939)  # ImageNet mean in 0..255: neutral after normalisation


@dataclass(frozen=True)
class AugmentationSettings:
    """Which augmentations a training image gets; field names are the command-line flags."""

    use_data_augmentation_in_training: bool = True
    patch_replacement_probability: float = 0.8
    random_erasing_probability: float = 0.8

    def __post_init__(self):
        require_fraction(self, "patch_replacement_probability", "random_erasing_probability")


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
    """The parameters (PARAMETER_NAMES) of one image's augmentation: the padded image is
    cropped back at a uniform offset, mirrored with probability 0.5, and given a grayscale
    patch and an erased patch with their probabilities."""
    image_height, image_width = image_size
    pad_height, pad_width = padding(image_height, image_width)
    parameters = [
        int(rng.integers(0, pad_height + 1)),
        int(rng.integers(0, pad_width + 1)),
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
    fill = np.round(FILL_COLOR).astype(np.uint8)
    augmented = np.empty_like(images)
    for image, values, target in zip(images, parameters, augmented, strict=True):
        crop_top, crop_left, mirror, *patches = (int(value) for value in values)
        padded = cv2.copyMakeBorder(
            image, **borders, borderType=cv2.BORDER_CONSTANT, value=FILL_COLOR
        )
        cropped = padded[crop_top : crop_top + height, crop_left : crop_left + width]
        target[...] = cropped[:, ::-1] if mirror else cropped
        gray_top, gray_left, gray_height, gray_width = patches[:4]
        if gray_height:
            region = target[gray_top : gray_top + gray_height, gray_left : gray_left + gray_width]
            region[...] = cv2.cvtColor(np.ascontiguousarray(region), cv2.COLOR_RGB2GRAY)[..., None]
        erased_top, erased_left, erased_height, erased_width = patches[4:]
        target[
            erased_top : erased_top + erased_height, erased_left : erased_left + erased_width
        ] = fill
    return augmented


def sample_patch(
    rng: np.random.Generator,
    height: int,
    width: int,
    area_range=(0.02, 0.4),
    aspect_ratio_range=(0.3, 1 / 0.3),
    attempt_num: int = 100,
) -> tuple[int, int, int, int] | None:
    """(top, left, patch height, patch width) of a random rectangle, or None after the attempts.

    Area is a fraction of the image, aspect ratio height / width, both drawn uniformly
    (log-uniform ratio), as in random erasing (Zhong et al., arXiv 1708.04896).
    """
    for _ in range(attempt_num):
        area = rng.uniform(*area_range) * height * width
        aspect_ratio = np.exp(
            rng.uniform(np.log(aspect_ratio_range[0]), np.log(aspect_ratio_range[1]))
        )
        patch_height = int(round(np.sqrt(area * aspect_ratio)))
        patch_width = int(round(np.sqrt(area / aspect_ratio)))
        if 0 < patch_height < height and 0 < patch_width < width:
            top = int(rng.integers(0, height - patch_height + 1))
            left = int(rng.integers(0, width - patch_width + 1))
            return top, left, patch_height, patch_width
    return None


class RandomPatchTransform(A.ImageOnlyTransform):
    """Changes one random rectangle (see sample_patch); subclasses say how in change_patch."""

    def change_patch(self, patch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def apply(self, img, **params):
        height, width = img.shape[:2]
        patch = sample_patch(self.random_generator, height, width)
        if patch is None:
            return img
        top, left, patch_height, patch_width = patch
        img = img.copy()
        region = (slice(top, top + patch_height), slice(left, left + patch_width))
        img[region] = self.change_patch(np.ascontiguousarray(img[region]))
        return img


class RandomGrayscalePatchReplacement(RandomPatchTransform):
    """Replace a random rectangle by its grayscale version (Gong et al., arXiv 2101.08533)."""

    def change_patch(self, patch):
        return cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY)[..., None]


class RandomErasingWithColor(RandomPatchTransform):
    """Fill a random rectangle with a constant colour (Zhong et al., arXiv 1708.04896)."""

    def __init__(self, fill=FILL_COLOR, p: float = 0.5):
        super().__init__(p=p)
        self.fill = fill

    def change_patch(self, patch):
        return np.round(self.fill).astype(patch.dtype)


def build_training_augmentation(
    image_height: int,
    image_width: int,
    *,
    patch_replacement_probability: float = 0.8,
    random_erasing_probability: float = 0.8,
    seed: int | None = None,
) -> A.Compose:
    """Pad by 5% with the fill colour and crop back, flip, grayscale patch, random erasing.

    Input and output: (image_height, image_width, 3) uint8 RGB. With a seed, each transform
    gets a seed of its own: albumentations' Compose(seed=s) gives every transform the same
    generators, so their draws coincide (the flip, the grayscale patch and the erasing happen
    together or not at all, and the erased rectangle falls exactly on the grayscale one, which
    is never seen).
    """
    compose = A.Compose(
        [
            A.PadIfNeeded(
                image_height + int(0.05 * image_height),
                image_width + int(0.05 * image_width),
                border_mode=cv2.BORDER_CONSTANT,
                fill=FILL_COLOR,
            ),
            A.RandomCrop(image_height, image_width),
            A.HorizontalFlip(p=0.5),
            RandomGrayscalePatchReplacement(p=patch_replacement_probability),
            RandomErasingWithColor(p=random_erasing_probability),
        ],
    )
    if seed is not None:
        for index, transform in enumerate(compose.transforms):
            transform.set_random_seed(
                int(np.random.SeedSequence([seed, index]).generate_state(1)[0])
            )
    return compose
