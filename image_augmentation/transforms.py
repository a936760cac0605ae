"""The training augmentation of FlipReID as albumentations 2 transforms (docs/method.md)."""

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

    Input and output: (image_height, image_width, 3) uint8 RGB.
    """
    return A.Compose(
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
        seed=seed,
    )
