"""Keras 2 (tf_keras) is in force whichever project module is imported first."""

import os

from conftest import start_python

TENSORFLOW_PACKAGES = [
    "applications",
    "callbacks",
    "image_augmentation",
    "load_backbones",
    "metric_learning",
    "regularizers",
    "solution",
    "search",
    "training",
]
NO_TENSORFLOW_PACKAGES = [
    "datasets",
    "evaluation",
    "visualization",
    "atomic_files",
    "settings_checks",
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
