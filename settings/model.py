"""The architecture flags: what the network is, checked as they are built."""

from dataclasses import dataclass

from .checks import (
    SettingsError,
    require_at_least,
    require_one_of,
)

POOLING_MODES = ("GeM", "Average", "Max")
BACKBONE_NAMES = (
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "ibn_resnet50",
    "ibn_resnet101",
    "resnesta50",
    "resnesta101",
)
OUTPUT_STRIDE = 16  # with the last stride set to 1: 384x128 input -> 24x8 feature map


@dataclass(frozen=True)
class ModelSettings:
    """The architecture: with the number of training identities, all that defines the network.

    Field names are the command-line flags; defaults are the 2021 release's.
    """

    backbone_model_name: str = "resnet50"
    image_height: int = 384
    image_width: int = 128
    region_num: int = 2
    pooling_mode: str = "GeM"
    min_value: float = 0.0
    max_value: float = 1.0
    use_horizontal_flipping_inside_model: bool = False

    def __post_init__(self):
        require_one_of(self, "backbone_model_name", BACKBONE_NAMES)
        require_one_of(self, "pooling_mode", POOLING_MODES)
        require_at_least(self, image_height=1, image_width=1, region_num=1)
        if self.min_value >= self.max_value:
            raise SettingsError(
                f"--min_value ({self.min_value}) must be below --max_value ({self.max_value})."
            )
        row_num = feature_map_height(self.image_height)
        if row_num < self.region_num:
            raise SettingsError(
                f"--image_height {self.image_height} gives a last feature map {row_num} row(s) "
                f"high (the backbone divides the height by {OUTPUT_STRIDE}, rounding up), too "
                f"few for --region_num {self.region_num} stripes. Use --image_height of at least "
                f"{OUTPUT_STRIDE * (self.region_num - 1) + 1} or a smaller --region_num."
            )

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.image_height, self.image_width, 3)


def feature_map_height(image_height: int) -> int:
    """Rows of the last feature map (any backbone here, last stride 1): each of the four
    down-samplings halves the height, rounding up."""
    return -(-image_height // OUTPUT_STRIDE)
