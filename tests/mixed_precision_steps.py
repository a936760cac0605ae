"""Run by test_devices.py in a fresh interpreter, so that each precision gets its own process
(and, for float16, TensorFlow's Eigen CPU kernels: oneDNN's float16 training kernels take 20 to
40 s per step on a CPU, Eigen's 1 s): a few FlipReID training steps under a mixed-precision
policy, on resnet18 or the backbone named by the second argument. Prints one JSON object."""

import tensorflow_setup  # noqa: F401, I001

import json
import sys

import numpy as np
import keras

import applications
from settings import ModelSettings


def main(policy: str, backbone_model_name: str = "resnet18") -> None:
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    training_model, inference_model = applications.init_model(
        ModelSettings(
            backbone_model_name=backbone_model_name,
            image_height=64,
            image_width=32,
            use_horizontal_flipping_inside_model=True,
        ),
        class_num=4,
        use_pretrained_backbone=False,
    )
    applications.compile_training_model(training_model, learning_rate=1e-3)
    labels = np.repeat(np.arange(4), 2)
    one_hot = np.eye(4, dtype=np.float32)[labels]
    targets = [
        labels if name.endswith("_embedding") else one_hot for name in training_model.output_names
    ]
    images = np.random.default_rng(7).uniform(0, 255, (8, 64, 32, 3)).astype(np.float32)
    losses = [
        float(training_model.train_on_batch(images, targets, return_dict=True)["loss"])
        for _ in range(4)
    ]
    names = ("region1_conv", "region1_pooling", "clip", "flip_average", "global_bn")
    print(
        json.dumps(
            {
                "losses": losses,
                "compute_dtypes": {
                    name: training_model.get_layer(name).compute_dtype
                    for name in (*names, "global_classifier")
                },
                "backbone_compute_dtypes": sorted(
                    {
                        layer.compute_dtype
                        for block in applications.backbone_blocks(training_model)
                        for layer in block.layers
                        if layer.weights
                    }
                ),
                "loss_scaled": isinstance(
                    training_model.optimizer, keras.mixed_precision.LossScaleOptimizer
                ),
                "output_dtypes": [
                    keras.backend.standardize_dtype(output.dtype)
                    for output in inference_model.outputs
                ],
            }
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
