"""The program's FlipReID network on the JAX backend, reading the Keras 2 versions' files: run by
tests/test_keras3_jax.py in a child process with KERAS_BACKEND=jax (Keras fixes its backend at
import), for each folder named by the arguments; each holds inference_model.h5 and its .json,
training_model.h5 (the same architecture, heads included) and images.npy.

Writes jax.npz into each folder:
- "inference/<i>": the inference model's embeddings (an eager call, training=False);
- "training/<i>": the training model's outputs in training mode, computed as Keras' JAX trainer
  computes them: Model.stateless_call, with the variables passed in and the updated
  non-trainable ones (BatchNormalization's moving statistics) returned (the trainer runs it
  under jax.jit; here it runs eagerly, which costs a third of compiling a ResNet-50);
- "flipping": the flipping loss of that call (its losses, return_losses=True);
- "after/<layer>/<key>": every moving statistic after that call, keyed as
  applications.h5_weights.read_h5_weights keys a file.
"""

import os
import sys

import keras
import numpy as np

import applications
from applications.h5_weights import load_h5_weights, model_weights
from applications.model_files import read_inference_model_description


def main(folder: str) -> None:
    if keras.backend.backend() != "jax":
        raise SystemExit(f"Keras runs on {keras.backend.backend()!r}: set KERAS_BACKEND=jax.")
    settings, class_num = read_inference_model_description(
        os.path.join(folder, "inference_model.json")
    )
    images = np.load(os.path.join(folder, "images.npy"))
    training_model, inference_model = applications.init_model(
        settings, class_num=class_num, use_pretrained_backbone=False
    )
    results = {}

    load_h5_weights(inference_model, os.path.join(folder, "inference_model.h5"))
    for index, embedding in enumerate(inference_model(images, training=False)):
        results[f"inference/{index}"] = np.asarray(embedding)

    load_h5_weights(training_model, os.path.join(folder, "training_model.h5"))
    outputs, non_trainable_values, losses = training_model.stateless_call(
        [variable.value for variable in training_model.trainable_variables],
        [variable.value for variable in training_model.non_trainable_variables],
        images,
        training=True,
        return_losses=True,
    )
    for index, output in enumerate(outputs):
        results[f"training/{index}"] = np.asarray(output)
    (results["flipping"],) = [np.asarray(loss) for loss in losses]
    for variable, value in zip(
        training_model.non_trainable_variables, non_trainable_values, strict=True
    ):
        variable.assign(value)
    for layer, variables in model_weights(training_model).items():
        for key, variable in variables.items():
            if key.endswith(("moving_mean", "moving_variance")):
                results[f"after/{layer}/{key}"] = np.asarray(variable)
    np.savez(os.path.join(folder, "jax.npz"), **results)


if __name__ == "__main__":
    for folder_argument in sys.argv[1:]:
        main(folder_argument)
