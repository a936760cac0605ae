"""The architecture flags: what the network is, checked as they are built."""

from dataclasses import dataclass

from .checks import (
    SettingsError,
    require_at_least,
    require_one_of,
)

POOLING_MODES = ("GeM", "Average", "Max")
# The 2021 release's backbones (load_backbones/resnet_family.py, tf2cv's ImageNet weights).
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
# Today's backbones from keras-hub, by their keras-hub preset names
# (load_backbones/keras_hub_family.py; docs/backbones.md).
KERAS_HUB_BACKBONE_NAMES = (
    "dinov2_small",
    "dinov2_base",
    "clip_vit_base_patch16",
    "resnet_50_imagenet",
)
ALL_BACKBONE_NAMES = BACKBONE_NAMES + KERAS_HUB_BACKBONE_NAMES
# The Vision Transformers' patch sizes (their presets' config.json: DINOv2 ViT-S/14 and ViT-B/14,
# CLIP ViT-B/16): one row of the feature map per patch_size pixels of height.
VIT_PATCH_SIZES = {"dinov2_small": 14, "dinov2_base": 14, "clip_vit_base_patch16": 16}
OUTPUT_STRIDE = 16  # with the last stride set to 1: 384x128 input -> 24x8 feature map
# The global embedding: a ViT's class token, or the pooled feature map (a ResNet's only choice);
# "auto" is the class token on a ViT (as TransReID and CLIP-ReID), the pooled map on a ResNet.
GLOBAL_FEATURES = ("auto", "class_token", "pooled_feature_map")


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
    global_feature: str = "auto"

    def __post_init__(self):
        require_one_of(self, "backbone_model_name", ALL_BACKBONE_NAMES)
        require_one_of(self, "pooling_mode", POOLING_MODES)
        require_one_of(self, "global_feature", GLOBAL_FEATURES)
        require_at_least(self, image_height=1, image_width=1, region_num=1)
        if self.min_value >= self.max_value:
            raise SettingsError(
                f"--min_value ({self.min_value}) must be below --max_value ({self.max_value})."
            )
        self.check_feature_map()
        self.check_global_feature()

    def check_feature_map(self) -> None:
        row_num = feature_map_height(self.image_height, self.backbone_model_name)
        if self.is_vision_transformer:
            patch_size = VIT_PATCH_SIZES[self.backbone_model_name]
            if self.image_width < patch_size or row_num < self.region_num:
                raise SettingsError(
                    f"--image_height {self.image_height} x --image_width {self.image_width} "
                    f"gives {self.backbone_model_name} a patch grid of {row_num} row(s) x "
                    f"{self.image_width // patch_size} column(s) ({patch_size}-pixel patches, "
                    f"the remainder left out), too few for --region_num {self.region_num} "
                    f"stripes. Use --image_height of at least {patch_size * self.region_num} "
                    f"and --image_width of at least {patch_size}, or a smaller --region_num."
                )
        elif row_num < self.region_num:
            raise SettingsError(
                f"--image_height {self.image_height} gives a last feature map {row_num} row(s) "
                f"high (the backbone divides the height by {OUTPUT_STRIDE}, rounding up), too "
                f"few for --region_num {self.region_num} stripes. Use --image_height of at least "
                f"{OUTPUT_STRIDE * (self.region_num - 1) + 1} or a smaller --region_num."
            )

    def check_global_feature(self) -> None:
        if self.global_feature == "class_token" and not self.is_vision_transformer:
            raise SettingsError(
                f"--global_feature class_token needs a Vision Transformer; "
                f"{self.backbone_model_name} has no class token. Use --global_feature "
                "pooled_feature_map (or auto), or a ViT: "
                f"{', '.join(VIT_PATCH_SIZES)}."
            )
        if (
            self.is_vision_transformer
            and self.global_feature == "pooled_feature_map"
            and self.pooling_mode == "GeM"
        ):
            # GeM's max(x, 1e-6) assumes non-negative (post-ReLU) features; a ViT's layer-normed
            # patch tokens are signed, so GeM would drop their negative half.
            raise SettingsError(
                f"--global_feature pooled_feature_map on {self.backbone_model_name} pools "
                "layer-normed patch tokens, which are signed; GeM (--pooling_mode GeM) takes "
                "max(x, 1e-6) first and would drop their negative half. Use --pooling_mode "
                "Average or Max, or --global_feature class_token."
            )

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.image_height, self.image_width, 3)

    @property
    def is_vision_transformer(self) -> bool:
        return self.backbone_model_name in VIT_PATCH_SIZES

    @property
    def uses_class_token(self) -> bool:
        """The global embedding is the class token (a ViT with --global_feature auto or
        class_token), not a pooled feature map."""
        return self.is_vision_transformer and self.global_feature in ("auto", "class_token")


def feature_map_height(image_height: int, backbone_model_name: str = "resnet50") -> int:
    """Rows of the last feature map. A ResNet here (last stride 1; the 2021 ones and keras-hub's
    ResNet-50 built with strides (1, 2, 2, 1)): each of its four down-samplings halves the
    height, rounding up. A ViT: one row per patch, the remainder of the height left out (its
    patch embedding is a convolution with stride = kernel = patch size, "valid" padding)."""
    if backbone_model_name in VIT_PATCH_SIZES:
        return image_height // VIT_PATCH_SIZES[backbone_model_name]
    return -(-image_height // OUTPUT_STRIDE)


def feature_map_width(image_width: int, backbone_model_name: str = "resnet50") -> int:
    """Columns of the last feature map, as feature_map_height counts rows."""
    return feature_map_height(image_width, backbone_model_name)
