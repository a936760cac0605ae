"""The FlipReID network in Keras 3 (issue 38's move, under way): the network of applications/
rebuilt on load_backbones/keras3, and the Keras 2 program's weights files read into it.

    training_model, inference_model = init_model(settings, class_num=751)
    load_keras2_weights_file(inference_model, "output/Market1501_resnet50/inference_model.h5")

model.py: the network and its optimizer; layers.py: its small layers in keras.ops; losses.py,
regularization.py, training_model.py: the loss and the training step; keras2_files.py: reading
training_model.h5 and inference_model.h5 written by the Keras 2 program, by name with h5py.
The program itself still runs the Keras 2 network of applications/model.py.
"""

from .keras2_files import load_keras2_weights_file, read_keras2_weights
from .model import (
    backbone_blocks,
    compile_training_model,
    init_model,
    make_optimizer,
    set_backbone_trainable,
)

__all__ = [
    "backbone_blocks",
    "compile_training_model",
    "init_model",
    "load_keras2_weights_file",
    "make_optimizer",
    "read_keras2_weights",
    "set_backbone_trainable",
]
