"""Keras 2 (tf_keras) is in force whichever project module is imported first."""

import os
import subprocess
import sys

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TENSORFLOW_PACKAGES = [
    "applications",
    "callbacks",
    "image_augmentation",
    "load_backbones",
    "metric_learning",
    "regularizers",
    "solution",
]
NO_TENSORFLOW_PACKAGES = ["datasets", "evaluation"]


def run_python(code: str) -> subprocess.Popen:
    environment = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=REPOSITORY,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_each_tensorflow_package_selects_keras2_in_a_fresh_interpreter():
    processes = {
        package: run_python(
            f"import {package}\nimport tensorflow as tf, tf_keras\n"
            "print(tf.keras.layers.Layer is tf_keras.layers.Layer)"
        )
        for package in TENSORFLOW_PACKAGES
    }
    for package, process in processes.items():
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, f"{package}: {stderr[-2000:]}"
        assert stdout.strip().splitlines()[-1] == "True", (package, stdout)


def test_packages_without_tensorflow_do_not_import_it():
    processes = {
        package: run_python(f"import sys, {package}\nprint('tensorflow' in sys.modules)")
        for package in NO_TENSORFLOW_PACKAGES
    }
    for package, process in processes.items():
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, f"{package}: {stderr[-2000:]}"
        assert stdout.strip() == "False", package


def test_keras3_bound_before_the_project_gives_a_clear_error():
    process = run_python(
        "import tensorflow as tf\ntf.keras.layers\n"
        "import legacy_keras\nlegacy_keras.require_keras2()"
    )
    _, stderr = process.communicate(timeout=300)
    assert process.returncode != 0
    assert "tf2cv backbones need Keras 2" in stderr
