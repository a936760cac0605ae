"""Loaded by pytest before any test module: Keras 2 is selected before TensorFlow is imported."""

import legacy_keras  # noqa: F401
