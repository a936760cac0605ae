"""The Keras 2 program as it was before the move to Keras 3 (issue 38), kept only as the test
suite's reference: tf2cv's ResNet family with the last stage at stride 1, the FlipReID network,
its training step, L2 penalty and triplet loss, exactly as the program ran them up to commit
c4699ff. tests/test_keras3_*.py, test_keras2_runs.py and test_release_2021.py build a network
both ways and compare; the program never imports this package (tests/test_tensorflow_setup.py
checks that no program loads tf_keras or tf2cv).

Needs tf_keras and tf2cv (requirements-test.txt), and `tf.keras` bound to Keras 2: tf2cv imports
the module `tensorflow.keras.layers`, which TensorFlow binds when it is itself first imported,
from TF_USE_LEGACY_KERAS. So that variable must be set before TensorFlow's first import:
tests/conftest.py sets it in the test processes, and this package sets it for a child process
that imports it first. (The program uses `keras`, Keras 3, and never `tf.keras`.)

    from keras2_reference import init_model, load_backbone
"""

import importlib
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"

import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

if any(
    layers.Layer is not tf_keras.layers.Layer
    for layers in (tf.keras.layers, importlib.import_module("tensorflow.keras.layers"))
):
    raise ImportError(
        "tensorflow.keras was bound to Keras 3 before tests/keras2_reference was imported: set "
        "TF_USE_LEGACY_KERAS=1 before TensorFlow is first imported (tests/conftest.py does)."
    )

from .backbones import load_backbone  # noqa: E402
from .model import compile_training_model, init_model, make_optimizer  # noqa: E402

__all__ = ["compile_training_model", "init_model", "load_backbone", "make_optimizer"]
