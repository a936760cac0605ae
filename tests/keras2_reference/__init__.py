"""The Keras 2 program as it was before the move to Keras 3 (issue 38), kept only as the test
suite's reference: tf2cv's ResNet family with the last stage at stride 1, the FlipReID network,
its training step, L2 penalty and triplet loss, exactly as the program ran them up to commit
c4699ff. tests/test_keras3_*.py, test_keras2_runs.py and test_release_2021.py build a network
both ways and compare; the program never imports this package (tests/test_tensorflow_setup.py
checks that no program loads tf_keras or tf2cv).

Needs tf_keras and tf2cv (requirements-test.txt), and `tf.keras` bound to Keras 2
(tf_keras_binding.py). The program uses `keras`, Keras 3, and never `tf.keras`.

    from keras2_reference import init_model, load_backbone
"""

from . import tf_keras_binding  # noqa: F401, I001  (first: tf2cv's layers must be Keras 2's)
from .backbones import load_backbone
from .model import compile_training_model, init_model, make_optimizer

__all__ = ["compile_training_model", "init_model", "load_backbone", "make_optimizer"]
