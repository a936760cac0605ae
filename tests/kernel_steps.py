"""One SGD training step of the FlipReID training model (resnet18 at 32x16, mirror inside) on
seeded weights and a fixed batch, in whatever CPU kernels the environment selects
(TF_ENABLE_ONEDNN_OPTS); writes the losses and what the step changed in every variable to the
.npz file named by the first argument. tests/test_tensorflow_setup.py runs it with Eigen's
kernels and with oneDNN's, and with Eigen in float64 as the reference, and compares them.

Plain SGD, so that a step's change of a weight is the learning rate times its gradient:
comparing the changes compares the gradients. (Adam's first steps divide each gradient by its
own size, which turns float noise in a near-zero gradient into a full step.) One step only:
from the second on, the batch-hard triplet loss may pick another hardest pair when the weights
differ in their last digits, and the gradients then differ by far more than rounding.
The second argument is Keras' floatx: float64 for the reference, initialised with float32's
random draws.
"""

import tensorflow_setup  # noqa: F401, I001  (before TensorFlow is imported)

import sys

import numpy as np
import keras

import applications
from settings import ModelSettings

IDENTITY_NUM, IMAGE_NUM_PER_IDENTITY, CLASS_NUM, IMAGE_SIZE = 4, 4, 8, (32, 16)


def build_training_model() -> keras.Model:
    training_model, _ = applications.init_model(
        ModelSettings(
            backbone_model_name="resnet18",
            image_height=IMAGE_SIZE[0],
            image_width=IMAGE_SIZE[1],
            use_horizontal_flipping_inside_model=True,
        ),
        class_num=CLASS_NUM,
        use_pretrained_backbone=False,
    )
    return training_model


def main(output_file_path: str, floatx: str) -> None:
    keras.utils.set_random_seed(0)
    initial_weights = build_training_model().get_weights()  # float32's random draws
    keras.config.set_dtype_policy(floatx)  # Keras 3: the layers' default dtype
    training_model = build_training_model()
    training_model.set_weights([weights.astype(floatx) for weights in initial_weights])
    applications.compile_training_model(
        training_model, optimizer=keras.optimizers.SGD(learning_rate=0.01)
    )
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (IDENTITY_NUM * IMAGE_NUM_PER_IDENTITY, *IMAGE_SIZE, 3))
    labels = np.repeat(np.arange(IDENTITY_NUM), IMAGE_NUM_PER_IDENTITY)
    one_hot = np.eye(CLASS_NUM, dtype=np.float32)[labels]
    targets = [
        labels if name.endswith("_embedding") else one_hot for name in training_model.output_names
    ]
    variables = training_model.variables
    before = [variable.numpy() for variable in variables]
    losses = training_model.train_on_batch(images.astype(floatx), targets, return_dict=True)
    changes = {
        f"change_{index}": variable.numpy() - start
        for index, (variable, start) in enumerate(zip(variables, before, strict=True))
    }
    np.savez(
        output_file_path,
        loss_names=np.array(list(losses)),
        losses=np.array(list(losses.values())),
        **changes,
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
