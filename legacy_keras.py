"""Keras 2 for tf2cv, and oneDNN's CPU kernels: every package that uses TensorFlow imports this
module first, so both settings are in force before TensorFlow is imported.

tf2cv's layers build only under Keras 2 (`tf_keras`); TensorFlow 2.21 binds `tf.keras` to Keras 3
unless TF_USE_LEGACY_KERAS=1 is set before `tf.keras` is first touched.

TensorFlow turns its oneDNN kernels on by default only on CPUs with AVX512_VNNI, AVX512_BF16,
AVX_VNNI or AMX; elsewhere (AVX2-only CPUs such as many AMD EPYCs) it uses Eigen's, whose
Conv2DBackpropInput costs 6 to 60 times the forward convolution on this network's last stage
(docs/method.md, "Speed of a training step"). We turn oneDNN on everywhere unless the user set
TF_ENABLE_ONEDNN_OPTS themselves.
"""

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


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
