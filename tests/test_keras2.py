"""Keras 2 (tf_keras) is in force whichever project module is imported first."""

import os

import numpy as np
from conftest import REPOSITORY, start_python

TENSORFLOW_PACKAGES = [
    "applications",
    "callbacks",
    "image_augmentation",
    "load_backbones",
    "metric_learning",
    "regularizers",
    "training",
]
NO_TENSORFLOW_PACKAGES = [
    "datasets",
    "evaluation",
    "visualization",
    "atomic_files",
    "settings",
    "deployment",
    "deployment.onnx_model",
    "progress_lines",
    "sweeps",
    "command_line",
    "solution",  # the entry points import TensorFlow once their flags are parsed and checked
    "search",
    "sweep",
    "export",
]


def run_python(code: str, **environment_changes: str):
    """A fresh interpreter without TF_USE_LEGACY_KERAS and TF_ENABLE_ONEDNN_OPTS in its
    environment, with `environment_changes` applied."""
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TF_USE_LEGACY_KERAS", "TF_ENABLE_ONEDNN_OPTS")
    }
    return start_python(["-c", code], environment={**environment, **environment_changes})


def test_each_tensorflow_package_selects_keras2_and_onednn_in_a_fresh_interpreter():
    processes = {
        package: run_python(
            f"import {package}\nimport os, tensorflow as tf, tf_keras\n"
            "print(tf.keras.layers.Layer is tf_keras.layers.Layer, "
            "os.environ['TF_ENABLE_ONEDNN_OPTS'])"
        )
        for package in TENSORFLOW_PACKAGES
    }
    for package, process in processes.items():
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 0, f"{package}: {output[-2000:]}"
        assert output.strip().splitlines()[-1] == "True 1", (package, output)


def test_the_users_own_onednn_setting_is_kept():
    process = run_python(
        "import applications, os\nprint(os.environ['TF_ENABLE_ONEDNN_OPTS'])",
        TF_ENABLE_ONEDNN_OPTS="0",
    )
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output[-2000:]
    assert output.strip().splitlines()[-1] == "0"


def test_packages_without_tensorflow_do_not_import_it():
    processes = {
        package: run_python(f"import sys, {package}\nprint('tensorflow' in sys.modules)")
        for package in NO_TENSORFLOW_PACKAGES
    }
    for package, process in processes.items():
        output, _ = process.communicate(timeout=120)
        assert process.returncode == 0, f"{package}: {output[-2000:]}"
        assert output.strip().splitlines()[-1] == "False", package


def test_keras3_bound_before_the_project_gives_a_clear_error():
    process = run_python(
        "import tensorflow as tf\ntf.keras.layers\n"
        "import legacy_keras\nlegacy_keras.require_keras2()"
    )
    output, _ = process.communicate(timeout=300)
    assert process.returncode != 0
    assert "tf2cv backbones need Keras 2" in output


def test_onednn_and_eigen_kernels_compute_the_same_training_step(tmp_path):
    """legacy_keras.py turns oneDNN on where TensorFlow would run Eigen's kernels (issue 19):
    other kernels, the same function. One SGD step on the same weights and batch
    (tests/kernel_steps.py) with each kernel set in float32, and with Eigen in float64 as the
    reference: the losses agree to float32 rounding, and the two kernel sets' weight changes
    (the gradients) are closer to each other than either is to float64's, i.e. the swap stays
    within float32's own error."""
    runs = {"eigen": ("0", "float32"), "onednn": ("1", "float32"), "float64": ("0", "float64")}
    environment = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    environment["PYTHONPATH"] = REPOSITORY
    processes = {
        name: start_python(
            ["tests/kernel_steps.py", str(tmp_path / f"{name}.npz"), floatx],
            environment={**environment, "TF_ENABLE_ONEDNN_OPTS": onednn},
        )
        for name, (onednn, floatx) in runs.items()
    }
    results = {}
    for name, process in processes.items():
        output, _ = process.communicate(timeout=600)
        assert process.returncode == 0, f"{name}: {output[-2000:]}"
        results[name] = np.load(tmp_path / f"{name}.npz")
    eigen, onednn, reference = results["eigen"], results["onednn"], results["float64"]
    assert "flipping" in eigen["loss_names"]
    np.testing.assert_allclose(onednn["losses"], eigen["losses"], rtol=1e-5)
    np.testing.assert_allclose(eigen["losses"], reference["losses"], rtol=1e-5)

    names = [name for name in reference.files if name.startswith("change_")]

    def changes(result) -> np.ndarray:
        return np.concatenate([result[name].ravel() for name in names]).astype(np.float64)

    size = np.linalg.norm(changes(reference))
    assert size > 0
    between_kernels = np.linalg.norm(changes(onednn) - changes(eigen)) / size
    float32_error = np.linalg.norm(changes(eigen) - changes(reference)) / size
    # Measured on an AVX-512 Xeon: 0.1% between the kernel sets, 1.1% from float64.
    assert between_kernels < 0.5 * float32_error and between_kernels < 1e-2, (
        between_kernels,
        float32_error,
    )
