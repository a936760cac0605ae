import legacy_keras  # noqa: F401  (Keras 2 must be selected before TensorFlow is imported)
