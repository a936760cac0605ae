"""Keras 2 for tf2cv: every package that uses TensorFlow imports this module first.

tf2cv's layers build only under Keras 2 (`tf_keras`); TensorFlow 2.21 binds `tf.keras` to Keras 3
unless TF_USE_LEGACY_KERAS=1 is set before `tf.keras` is first touched.
"""

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"


def require_keras2() -> None:
    """Raise a clear error if `tf.keras` was already bound to Keras 3 before we were imported."""
    import tensorflow as tf
    import tf_keras

    if tf.keras.layers.Layer is not tf_keras.layers.Layer:
        raise ImportError(
            f"tf.keras is {tf.keras.__name__!r} (Keras 3), but tf2cv backbones need Keras 2. "
            "Something used tf.keras before this project was imported; import the project first, "
            "or set TF_USE_LEGACY_KERAS=1 in the environment, and install tf_keras."
        )
