"""Today's backbones from keras-hub inside FlipReID, named by their keras-hub presets: DINOv2
ViT-S/14 and ViT-B/14 (Oquab et al., arXiv 2304.07193), CLIP's image encoder ViT-B/16 (Radford
et al., arXiv 2103.00020) and ResNet-50 (timm's weights, Wightman et al., arXiv 2110.00476), cut
into the three blocks FlipReID needs (docs/backbones.md):

    blocks = build_keras_hub_blocks("dinov2_small", image_size=(256, 128), preset_source="")
    blocks.trunk                # normalised images -> tokens after all transformer layers but the
                                # last (a ResNet: the feature map before its last stage)
    blocks.global_last_block    # -> the last transformer layer and the final norm (last stage)
    blocks.regional_last_block  # a second copy of it, starting from the same weights

preset_source "" builds the architecture of KERAS_HUB_ARCHITECTURES with random weights and
downloads nothing; a preset name (keras-hub downloads it once, with kagglehub, into
~/.cache/kagglehub or $KAGGLEHUB_CACHE) or a local preset folder gives keras-hub's weights.

The blocks come out of keras-hub's public models:
- ResNet-50: keras_hub.models.ResNetBackbone with stackwise strides (1, 2, 2, 1), last stride 1
  (from the preset: rebuilt from its config with those strides, its weights set, since strides
  change no weight); a functional model, cut before its last stack with keras.Model(inputs,
  get_layer(...).output).
- ViTs: keras-hub's DINOV2Backbone and CLIPVisionEncoder take square images only (their
  constructors refuse height != width; their embeddings count (side / patch)^2 patches), and a
  person image is 2:1 or 3:1. So the patch embedding is ours (PatchTokens: keras-hub's
  operations on a rows x cols grid, its position embeddings interpolated to that grid as
  keras-hub interpolates DINOv2's), and the transformer layers and final norm are keras-hub's own
  layer classes, copied out of the built model (from_config, get_config, set_weights) under
  names of ours: keras-hub prefixes a DINOv2 model's layer names with the model's name when it
  comes from a preset, so its names would differ between a run started from a preset and the
  reload of that run's weights.
The regional copy of the last block is keras.models.clone_model of the global one.
"""

import math
import os
from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from .errors import BackboneError

KERAS_HUB_BLOCK_NAMES = ("trunk", "global_last_block", "regional_last_block")

# Each preset's image converter: (pixels / 255 - mean) / std, RGB.
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # facebook/dinov2-* preprocessor_config.json; timm's
IMAGENET_STD = (0.229, 0.224, 0.225)  # resnet50.a1_in1k pretrained_cfg (ImageNet's)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # openai/clip-vit-base-patch16
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)  # preprocessor_config.json (OpenAI's)


@dataclass(frozen=True)
class KerasHubArchitecture:
    family: str  # "dinov2", "clip" or "resnet"
    config: dict  # the keras-hub backbone's constructor arguments, as its preset's config has them
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


# keras-hub converted these presets from the checkpoints named in each comment
# (tools/checkpoint_conversion/convert_dinov2_checkpoints.py, convert_clip_checkpoints.py and
# convert_resnet_checkpoints.py; keras_hub/src/utils/transformers/convert_dinov2.py and
# timm/convert_resnet.py map their config.json to these arguments). tests check that each built
# here has the parameter count of keras-hub's preset metadata.
KERAS_HUB_ARCHITECTURES = {
    # facebook/dinov2-small: hidden_size 384, num_hidden_layers 12, num_attention_heads 6,
    # mlp_ratio 4, patch_size 14, image_size 518, layerscale_value 1.0, no SwiGLU (ViT-S/14,
    # 21 M parameters in the paper; 22,582,656 in keras-hub's preset, both position embeddings
    # and the mask token counted).
    "dinov2_small": KerasHubArchitecture(
        family="dinov2",
        config=dict(
            patch_size=14,
            num_layers=12,
            hidden_dim=384,
            num_heads=6,
            intermediate_dim=1536,
            layer_scale_init_value=1.0,
            num_register_tokens=0,
            use_swiglu_ffn=False,
            image_shape=(518, 518, 3),
            position_embedding_shape=(518, 518),
            antialias_in_interpolation=False,  # keras-hub: False for "dinov2" checkpoints
        ),
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
    ),
    # facebook/dinov2-base: hidden_size 768, 12 layers, 12 heads, mlp_ratio 4, patch 14 (ViT-B/14,
    # 86 M parameters in the paper; 87,632,640 in keras-hub's preset).
    "dinov2_base": KerasHubArchitecture(
        family="dinov2",
        config=dict(
            patch_size=14,
            num_layers=12,
            hidden_dim=768,
            num_heads=12,
            intermediate_dim=3072,
            layer_scale_init_value=1.0,
            num_register_tokens=0,
            use_swiglu_ffn=False,
            image_shape=(518, 518, 3),
            position_embedding_shape=(518, 518),
            antialias_in_interpolation=False,
        ),
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
    ),
    # openai/clip-vit-base-patch16, vision_config: hidden_size 768, num_hidden_layers 12,
    # num_attention_heads 12, intermediate_size 3072, patch_size 16, image_size 224, quick_gelu.
    # keras-hub's preset is the whole CLIP (149,620,934 parameters, the text encoder included);
    # its vision_encoder is this.
    "clip_vit_base_patch16": KerasHubArchitecture(
        family="clip",
        config=dict(
            patch_size=16,
            hidden_dim=768,
            num_layers=12,
            num_heads=12,
            intermediate_dim=3072,
            intermediate_activation="quick_gelu",
            image_shape=(224, 224, 3),
        ),
        mean=CLIP_MEAN,
        std=CLIP_STD,
    ),
    # timm's resnet50.a1_in1k: ResNet-50 v1.5 (stride on the 3x3 convolution), a 7x7 stem of 64
    # filters, stacks of 3, 4, 6, 3 bottlenecks (23,561,152 parameters in keras-hub's preset).
    "resnet_50_imagenet": KerasHubArchitecture(
        family="resnet",
        config=dict(
            input_conv_filters=[64],
            input_conv_kernel_sizes=[7],
            stackwise_num_filters=[64, 128, 256, 512],
            stackwise_num_blocks=[3, 4, 6, 3],
            stackwise_num_strides=[1, 2, 2, 2],
            block_type="bottleneck_block",
            use_pre_activation=False,
        ),
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
    ),
}
BACKBONE_CLASS_NAMES = {
    "dinov2": "DINOV2Backbone",
    "clip": "CLIPVisionEncoder",
    "resnet": "ResNetBackbone",
}
# The config entries that change no weight (a preset folder may differ in them), and the strides
# this module sets itself.
NOT_COMPARED = (
    "image_shape",
    "position_embedding_shape",
    "antialias_in_interpolation",
    "layer_scale_init_value",
    "stackwise_num_strides",
)
LAST_STRIDE_ONE = [1, 2, 2, 1]  # the 2021 release's "last stride 1", as for its ResNets


@dataclass(frozen=True)
class KerasHubBlocks:
    """The trunk and the two copies of the last block; mean and std: the preprocessing the
    weights expect, (pixels / 255 - mean) / std on RGB."""

    trunk: keras.Model
    global_last_block: keras.Model
    regional_last_block: keras.Model
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


def architecture_of_hub_backbone(backbone_model_name: str) -> KerasHubArchitecture:
    if backbone_model_name not in KERAS_HUB_ARCHITECTURES:
        raise BackboneError(
            f"Unknown keras-hub backbone_model_name {backbone_model_name!r}; expected one of "
            f"{', '.join(KERAS_HUB_ARCHITECTURES)}."
        )
    return KERAS_HUB_ARCHITECTURES[backbone_model_name]


def build_keras_hub_blocks(
    backbone_model_name: str, *, image_size: tuple[int, int], preset_source: str
) -> KerasHubBlocks:
    """The blocks of a keras-hub backbone for (height, width) images.

    preset_source: "" for random weights (nothing downloaded), else the preset's name or a
    local preset folder (keras-hub's weights).
    """
    import keras_hub  # here: the 2021 backbones need none of it

    architecture = architecture_of_hub_backbone(backbone_model_name)
    backbone_class = getattr(keras_hub.models, BACKBONE_CLASS_NAMES[architecture.family])
    if preset_source:
        backbone = load_preset_backbone(
            backbone_model_name, preset_source=preset_source, backbone_class=backbone_class
        )
    else:
        backbone = backbone_class(**architecture.config)
    if architecture.family == "resnet":
        trunk, global_last_block = split_resnet(backbone, image_size=image_size)
    else:
        trunk, global_last_block = split_vision_transformer(
            backbone, family=architecture.family, image_size=image_size
        )
    clone = keras.models.clone_model(global_last_block)
    regional_last_block = keras.Model(clone.input, clone.output, name="regional_last_block")
    regional_last_block.set_weights(global_last_block.get_weights())
    return KerasHubBlocks(
        trunk=trunk,
        global_last_block=global_last_block,
        regional_last_block=regional_last_block,
        mean=architecture.mean,
        std=architecture.std,
    )


def kagglehub_folder_of(backbone_model_name: str) -> str:
    """Where kagglehub keeps a preset it downloaded (a preset folder itself)."""
    import keras_hub

    handle = keras_hub.models.Backbone.presets[backbone_model_name]["kaggle_handle"]
    cache = os.environ.get(
        "KAGGLEHUB_CACHE", os.path.expanduser(os.path.join("~", ".cache", "kagglehub"))
    )
    return os.path.join(cache, "models", os.path.join(*handle.removeprefix("kaggle://").split("/")))


def load_preset_backbone(backbone_model_name: str, *, preset_source: str, backbone_class):
    """keras-hub's backbone with its preset's weights: a CLIP preset's image encoder; checked to
    be the architecture of backbone_model_name."""
    import keras_hub

    is_folder = preset_source != backbone_model_name
    cache_folder = kagglehub_folder_of(backbone_model_name)
    if is_folder and not os.path.isfile(os.path.join(preset_source, "config.json")):
        raise BackboneError(
            f"--pretrained_backbone_weights_file_path {preset_source!r} is not a keras-hub "
            f"preset folder. For {backbone_model_name} it must be a folder holding the preset's "
            "config.json and weights (model.weights.h5), as keras-hub's save_to_preset writes "
            f"it and kagglehub downloads it (to {cache_folder}). Pass such a folder, or "
            "--nouse_pretrained_backbone to train from scratch."
        )
    try:
        # In the run's precision policy, as the layers built without a preset.
        loaded = keras_hub.models.Backbone.from_preset(
            preset_source, dtype=keras.config.dtype_policy().name
        )
    except (OSError, ValueError, ImportError) as error:
        if is_folder:
            raise BackboneError(
                f"Cannot load the keras-hub preset folder {preset_source!r} for "
                f"{backbone_model_name}: {type(error).__name__}: {error}. Pass the folder of "
                f"the {backbone_model_name} preset, or --nouse_pretrained_backbone."
            ) from error
        raise BackboneError(
            f"Cannot download keras-hub's preset {backbone_model_name!r} (the pretrained weights "
            f"of --backbone_model_name {backbone_model_name}) into kagglehub's cache, "
            f"{cache_folder}: {type(error).__name__}: {error}. Without internet, copy that "
            "folder from a machine where the download worked and pass it with "
            "--pretrained_backbone_weights_file_path, or train from scratch with "
            "--nouse_pretrained_backbone."
        ) from error
    if isinstance(loaded, keras_hub.models.CLIPBackbone):
        loaded = loaded.vision_encoder
    if not isinstance(loaded, backbone_class):
        raise BackboneError(
            f"The keras-hub preset {preset_source!r} holds a {type(loaded).__name__}; "
            f"--backbone_model_name {backbone_model_name} needs a {backbone_class.__name__}. "
            f"Pass the {backbone_model_name} preset, or the --backbone_model_name of this one."
        )
    check_preset_architecture(backbone_model_name, loaded.get_config(), source=preset_source)
    return loaded


def check_preset_architecture(backbone_model_name: str, config: dict, *, source: str) -> None:
    """A preset must hold the architecture its name stands for: a run's weights files are
    reloaded by building that architecture (model_files.py)."""
    expected = architecture_of_hub_backbone(backbone_model_name).config
    differences = [
        f"{key} {config.get(key)!r} (expected {value!r})"
        for key, value in expected.items()
        if key not in NOT_COMPARED and comparable(config.get(key)) != comparable(value)
    ]
    if differences:
        raise BackboneError(
            f"The keras-hub preset {source!r} is not the {backbone_model_name} architecture: "
            f"{'; '.join(differences)}. Pass the {backbone_model_name} preset (a fine-tuned "
            "copy of it fits), or the --backbone_model_name of this one."
        )


def comparable(value):
    return list(value) if isinstance(value, list | tuple) else value


def split_resnet(backbone, *, image_size: tuple[int, int]) -> tuple[keras.Model, keras.Model]:
    """(trunk: stem and all stacks but the last, the last stack) of keras-hub's ResNet, rebuilt
    for (height, width) images with the last stride 1."""
    config = {
        **backbone.get_config(),
        "stackwise_num_strides": LAST_STRIDE_ONE,
        "image_shape": (*image_size, 3),
    }
    rebuilt = type(backbone).from_config(config)
    rebuilt.set_weights(backbone.get_weights())
    blocks_per_stack = rebuilt.stackwise_num_blocks
    # keras-hub names a block's output f"stack{s}_block{b}_out" (resnet_backbone.py).
    cut = rebuilt.get_layer(
        f"stack{len(blocks_per_stack) - 2}_block{blocks_per_stack[-2] - 1}_out"
    ).output
    trunk = keras.Model(rebuilt.input, cut, name="trunk")
    return trunk, keras.Model(cut, rebuilt.output, name="global_last_block")


@dataclass(frozen=True)
class VisionTransformerParts:
    """What the blocks take from a keras-hub ViT: arrays for PatchTokens, layers to copy."""

    patch_size: int
    projection: keras.layers.Conv2D
    class_token: np.ndarray  # (1, 1, C)
    position_embedding: np.ndarray  # (1, 1 + g * g, C), of the preset's square g x g grid
    register_tokens: np.ndarray | None  # (1, R, C)
    antialias: bool
    pre_norm: keras.layers.Layer | None
    transformer_layers: list
    final_norm: keras.layers.Layer


def vision_transformer_parts(backbone, *, family: str) -> VisionTransformerParts:
    """The pieces of keras-hub's DINOV2Backbone or CLIPVisionEncoder, by the attributes their
    constructors set (dinov2_backbone.py, clip_vision_encoder.py, and their layers' files)."""
    if family == "dinov2":
        embedding = backbone.embeddings
        return VisionTransformerParts(
            patch_size=embedding.patch_size,
            projection=embedding.patch_embeddings.projection,
            class_token=to_numpy(embedding.cls_token),
            position_embedding=to_numpy(embedding.position_embeddings),
            register_tokens=(
                to_numpy(embedding.register_tokens) if embedding.num_register_tokens else None
            ),
            antialias=embedding.antialias_in_interpolation,
            pre_norm=None,
            transformer_layers=list(backbone.encoder.layers),
            final_norm=backbone.layernorm,
        )
    embedding = backbone.embedding
    # keras-hub's CLIP embeds position i with row position_ids[i] of its table; its presets'
    # position_ids are 0, 1, ..., N (Hugging Face's buffer), so the rows in order.
    position_table = to_numpy(embedding.position_embedding.embeddings)
    return VisionTransformerParts(
        patch_size=embedding.patch_size,
        projection=embedding.patch_embedding,
        class_token=to_numpy(embedding.class_embedding).reshape(1, 1, -1),
        position_embedding=position_table[None],
        register_tokens=None,
        antialias=False,  # Hugging Face's CLIP interpolates bicubically, without antialiasing
        pre_norm=backbone.pre_layer_norm,
        transformer_layers=list(backbone.encoder_layers),
        final_norm=backbone.layer_norm,
    )


def to_numpy(variable) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(variable))


def split_vision_transformer(
    backbone, *, family: str, image_size: tuple[int, int]
) -> tuple[keras.Model, keras.Model]:
    """(trunk: patch tokens, every transformer layer but the last; the last one and the final
    norm) for (height, width) images: a rows x cols patch grid, the remainder left out."""
    parts = vision_transformer_parts(backbone, family=family)
    grid = (image_size[0] // parts.patch_size, image_size[1] // parts.patch_size)
    patch_tokens = PatchTokens(
        hidden_dim=parts.class_token.shape[-1],
        patch_size=parts.patch_size,
        grid=grid,
        register_token_num=0 if parts.register_tokens is None else parts.register_tokens.shape[1],
        use_patch_bias=parts.projection.use_bias,
        name="patch_tokens",
    )
    images = keras.Input((*image_size, 3), name="normalized_images")
    tokens = patch_tokens(images)
    patch_tokens.projection.set_weights(parts.projection.get_weights())
    patch_tokens.class_token.assign(parts.class_token)
    patch_tokens.position_embedding.assign(
        position_embedding_for_grid(parts.position_embedding, grid, antialias=parts.antialias)
    )
    if parts.register_tokens is not None:
        patch_tokens.register_tokens.assign(parts.register_tokens)
    if parts.pre_norm is not None:
        tokens = copy_of(parts.pre_norm, tokens, name="pre_norm")
    *shared_layers, last_layer = parts.transformer_layers
    for index, layer in enumerate(shared_layers):
        tokens = copy_of(layer, tokens, name=f"transformer_layer{index}")
    trunk = keras.Model(images, tokens, name="trunk")
    last_input = keras.Input(tokens.shape[1:], name="tokens")
    last_output = copy_of(last_layer, last_input, name=f"transformer_layer{len(shared_layers)}")
    last_output = copy_of(parts.final_norm, last_output, name="final_norm")
    return trunk, keras.Model(last_input, last_output, name="global_last_block")


def copy_of(layer: keras.layers.Layer, inputs, *, name: str):
    """A new layer of layer's class and config, named `name`, called on inputs and given
    layer's weights; returns its output."""
    copy = type(layer).from_config({**layer.get_config(), "name": name})
    outputs = copy(inputs)
    copy.set_weights(layer.get_weights())
    return outputs


def position_embedding_for_grid(
    position_embedding: np.ndarray, grid: tuple[int, int], *, antialias: bool
) -> np.ndarray:
    """(1, 1 + g * g, C) position embeddings of a square g x g patch grid -> (1, 1 + rows * cols,
    C): the class token's kept, the patches' resized bicubically in float32 (keras-hub's
    interpolation of DINOv2's, dinov2_layers.py; Hugging Face's for CLIP), unchanged at g x g."""
    class_part, patch_part = position_embedding[:, :1], position_embedding[:, 1:]
    side = math.isqrt(patch_part.shape[1])
    if side * side != patch_part.shape[1]:
        raise BackboneError(
            f"Position embeddings of {patch_part.shape[1]} patches are not a square grid."
        )
    if grid == (side, side):
        return position_embedding
    square = ops.reshape(ops.cast(patch_part, "float32"), (1, side, side, -1))
    resized = ops.image.resize(
        square, size=grid, interpolation="bicubic", antialias=antialias, data_format="channels_last"
    )
    resized = np.asarray(ops.convert_to_numpy(resized)).astype(position_embedding.dtype)
    return np.concatenate([class_part, resized.reshape(1, grid[0] * grid[1], -1)], axis=1)


def keras_hub_block_weights(block: keras.Model) -> dict[str, keras.Variable]:
    """{variable path: variable} of a block built here (the weights files' keys, h5_weights.py):
    every layer inside is named by this module or by keras-hub's ResNet, so the paths are the
    same in every build of the block."""
    weights = {}
    for variable in block.weights:
        if variable.path in weights:
            raise BackboneError(f"Block {block.name!r} holds two weights at {variable.path!r}.")
        weights[variable.path] = variable
    return weights


@keras.saving.register_keras_serializable(package="flipreid")
class PatchTokens(keras.layers.Layer):
    """A ViT's input tokens on a rows x cols patch grid, as keras-hub's DINOv2 and CLIP
    embeddings compute them on a square one.

    (batch, H, W, 3) normalised images -> (batch, 1 + register_token_num + rows * cols,
    hidden_dim): the class token, the register tokens, then the patches row by row. The position
    embedding is added to the class token and the patches, before the registers are put in
    (DINOv2's order). The patches come from a convolution with kernel = stride = patch_size and
    "valid" padding: pixels past the last whole patch (the remainder of H or W) are left out.
    """

    def __init__(
        self,
        *,
        hidden_dim: int,
        patch_size: int,
        grid: tuple[int, int],
        register_token_num: int = 0,
        use_patch_bias: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_dim = hidden_dim
        self.patch_size = patch_size
        self.grid = tuple(grid)
        self.register_token_num = register_token_num
        self.use_patch_bias = use_patch_bias
        self.projection = keras.layers.Conv2D(
            hidden_dim,
            patch_size,
            strides=patch_size,
            padding="valid",
            use_bias=use_patch_bias,
            dtype=self.dtype_policy,
            name="projection",
        )

    def build(self, input_shape):
        self.projection.build(input_shape)
        patch_num = self.grid[0] * self.grid[1]
        initializer = keras.initializers.TruncatedNormal(stddev=0.02)
        self.class_token = self.add_weight(
            shape=(1, 1, self.hidden_dim), initializer=initializer, name="class_token"
        )
        self.position_embedding = self.add_weight(
            shape=(1, 1 + patch_num, self.hidden_dim),
            initializer=initializer,
            name="position_embedding",
        )
        if self.register_token_num:
            self.register_tokens = self.add_weight(
                shape=(1, self.register_token_num, self.hidden_dim),
                initializer="zeros",
                name="register_tokens",
            )

    def call(self, images):
        batch_size = ops.shape(images)[0]
        patches = ops.reshape(
            self.projection(images), (batch_size, self.grid[0] * self.grid[1], self.hidden_dim)
        )
        class_tokens = ops.tile(self.class_token, (batch_size, 1, 1))
        tokens = ops.add(ops.concatenate([class_tokens, patches], axis=1), self.position_embedding)
        if self.register_token_num:
            register_tokens = ops.tile(self.register_tokens, (batch_size, 1, 1))
            tokens = ops.concatenate([tokens[:, :1], register_tokens, tokens[:, 1:]], axis=1)
        return tokens

    def compute_output_shape(self, input_shape):
        token_num = 1 + self.register_token_num + self.grid[0] * self.grid[1]
        return (input_shape[0], token_num, self.hidden_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "hidden_dim": self.hidden_dim,
            "patch_size": self.patch_size,
            "grid": self.grid,
            "register_token_num": self.register_token_num,
            "use_patch_bias": self.use_patch_bias,
        }
