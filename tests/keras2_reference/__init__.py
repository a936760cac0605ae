"""The Keras 2 program as it was before the move to Keras 3 (issue 38), kept only as the test
suite's reference: tf2cv's ResNet family with the last stage at stride 1, the FlipReID network,
its training step, L2 penalty and triplet loss, exactly as the program ran them up to commit
c4699ff. tests/test_keras3_*.py build a network both ways and compare; the program never
imports this package (tests/test_imports.py checks).

Needs tf_keras and tf2cv (requirements-test.txt). `tf.keras` must be Keras 2 here:
TF_USE_LEGACY_KERAS=1 is set before anything reads `tf.keras` (the program itself uses `keras`,
Keras 3, and never `tf.keras`).

    from keras2_reference import init_model, load_backbone

tf2cv imports `tensorflow.keras.layers` as a module, which TensorFlow finds along a path that it
chose from TF_USE_LEGACY_KERAS when it was itself imported. The tests import TensorFlow first
(conftest.py imports tensorflow_setup), so the module name `tensorflow.keras` is bound here to
tf_keras's API as well; without that, tf2cv's layers would be Keras 3's.
"""

import os
import sys

os.environ["TF_USE_LEGACY_KERAS"] = "1"

import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

sys.modules.setdefault("tensorflow.keras", tf.keras)
if any(
    keras_api.layers.Layer is not tf_keras.layers.Layer
    for keras_api in (tf.keras, sys.modules["tensorflow.keras"])
):
    raise ImportError(
        "tf.keras was bound to Keras 3 before tests/keras2_reference was imported; import it "
        "(or set TF_USE_LEGACY_KERAS=1) before anything reads tf.keras or imports "
        "tensorflow.keras."
    )

from .backbones import load_backbone  # noqa: E402
from .model import compile_training_model, init_model, make_optimizer  # noqa: E402

__all__ = ["compile_training_model", "init_model", "load_backbone", "make_optimizer"]
