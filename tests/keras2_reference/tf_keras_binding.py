"""tf.keras bound to Keras 2 (tf_keras) for tf2cv's code, checked.

tf2cv imports the module `tensorflow.keras.layers`, which TensorFlow binds when it is itself first
imported, from TF_USE_LEGACY_KERAS. So that variable must be set before TensorFlow's first
import: tests/conftest.py sets it in the test processes, and this module sets it for a child
process that imports keras2_reference first.
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
