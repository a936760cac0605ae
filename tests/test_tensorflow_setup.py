"""What every entry point and package sets up before TensorFlow starts (tensorflow_setup.py:
oneDNN's kernels, a quiet start), that the program runs on Keras 3 with no Keras 2 or tf2cv
model code loaded, and which packages stay free of TensorFlow."""

import os

import numpy as np
import pytest
from conftest import (
    REPOSITORY,
    SHRUNK,
    TINY_SYNTHETIC,
    assert_one_error,
    quiet_environment,
    start_python,
    synthetic_dataset_flags,
)

from datasets import generate_synthetic_dataset

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


ENTRY_POINTS = ["solution", "export", "search", "track", "sweep"]


def run_python(code: str, **environment_changes: str):
    """A fresh interpreter without TF_USE_LEGACY_KERAS and TF_ENABLE_ONEDNN_OPTS in its
    environment, with `environment_changes` applied."""
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TF_USE_LEGACY_KERAS", "TF_ENABLE_ONEDNN_OPTS")
    }
    return start_python(["-c", code], environment={**environment, **environment_changes})


def test_each_tensorflow_package_selects_onednn_in_a_fresh_interpreter():
    processes = {
        package: run_python(
            f"import {package}\nimport os\nprint(os.environ['TF_ENABLE_ONEDNN_OPTS'])"
        )
        for package in TENSORFLOW_PACKAGES
    }
    for package, process in processes.items():
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 0, f"{package}: {output[-2000:]}"
        assert output.strip().splitlines()[-1] == "1", (package, output)


def test_no_program_loads_keras2_or_tf2cv():
    """Issue 38: after everything an entry point imports, and after building and calling a
    model, neither tf_keras nor tf2cv is loaded, and the network is Keras 3's."""
    build_and_report = (
        "import sys, keras, numpy as np\n"
        "from settings import ModelSettings\n"
        "settings = ModelSettings(\n"
        "    backbone_model_name='resnet18', image_height=64, image_width=32)\n"
        "training_model, inference_model = applications.init_model(\n"
        "    settings, class_num=3, use_pretrained_backbone=False)\n"
        "inference_model(np.zeros((1, 64, 32, 3), 'float32'))\n"
        "print(keras.__version__.split('.')[0], isinstance(training_model, keras.Model),\n"
        "      sorted(name for name in sys.modules if name.split('.')[0] in ('tf_keras', 'tf2cv')))"
    )
    processes = {  # one per entry point: each defines its own flags
        entry_point: run_python(
            f"import {', '.join([entry_point, *TENSORFLOW_PACKAGES])}\n" + build_and_report
        )
        for entry_point in ENTRY_POINTS
    }
    for entry_point, process in processes.items():
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 0, f"{entry_point}: {output[-2000:]}"
        assert output.strip().splitlines()[-1] == "3 True []", (entry_point, output[-2000:])


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


def test_onednn_and_eigen_kernels_compute_the_same_training_step(tmp_path):
    """tensorflow_setup.py turns oneDNN on where TensorFlow would run Eigen's kernels (issue 19):
    other kernels, the same function. One SGD step on the same weights and batch
    (tests/kernel_steps.py) with each kernel set in float32, and with Eigen in float64 as the
    reference: the losses agree to float32 rounding, and the two kernel sets' weight changes
    (the gradients) differ by float32 rounding, no more than float32 differs from float64."""
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
    # Measured on an AMD EPYC (AVX-512), Keras 3 network: 8.3e-7 between the kernel sets,
    # 6.5e-7 from float64 (the Keras 2 network's random start, another draw, gave 0.1% and
    # 1.1% on a Xeon): float32 rounding either way. A kernel set that computed another
    # function would be far above both bounds.
    assert float32_error > 0  # the reference did compute in float64
    assert between_kernels < 3 * float32_error and between_kernels < 1e-4, (
        between_kernels,
        float32_error,
    )


@pytest.mark.parametrize(
    "backend, flags, phrases",
    [
        # Keras' NumPy backend (inference only): solution.py runs on TensorFlow and JAX.
        ("numpy", [], ["'numpy'", "TensorFlow or JAX", "KERAS_BACKEND=tensorflow"]),
        # Training on several devices is tf.distribute's: TensorFlow only.
        (
            "jax",
            ["--logical_cpu_device_num", "2"],
            ["Training on several devices", "'jax'", "KERAS_BACKEND=tensorflow"],
        ),
    ],
)
def test_a_backend_the_program_does_not_run_on_is_refused_with_one_message(
    tmp_path, backend, flags, phrases
):
    """solution.py on a Keras backend it does not run on stops with one message that names the
    backend and what to do, before anything is written."""
    process = start_python(
        [
            "-u",
            "solution.py",
            "--dataset_name",
            "Synthetic",
            "--root_folder_path",
            str(tmp_path / "data"),
            "--output_folder_path",
            str(tmp_path / "output"),
            *flags,
        ],
        environment={**quiet_environment(), "KERAS_BACKEND": backend},
    )
    output, _ = process.communicate(timeout=300)
    assert_one_error((process.returncode, output), phrases)
    assert not (tmp_path / "output").exists()


def test_a_run_needs_neither_tf_keras_nor_tf2cv(tmp_path):
    """requirements.txt installs neither: a short training run and its evaluation in a Python
    whose path holds the test environment's packages but those two (`python -S`, the packages
    linked one by one into a folder of their own), as in a fresh `pip install -r
    requirements.txt`."""
    import site

    packages = tmp_path / "site-packages"
    packages.mkdir()
    for folder in site.getsitepackages():
        for name in os.listdir(folder):
            if not name.startswith(("tf_keras", "tf2cv")) and not (packages / name).exists():
                (packages / name).symlink_to(os.path.join(folder, name))
    generate_synthetic_dataset(str(tmp_path / "data"), TINY_SYNTHETIC)
    arguments = [
        *SHRUNK,
        *synthetic_dataset_flags(),
        "--root_folder_path",
        str(tmp_path / "data"),
        "--output_folder_path",
        str(tmp_path / "output"),
        "--freeze_backbone_for_N_epochs",
        "0",
        "--epoch_num",
        "1",
        "--steps_per_epoch",
        "2",
    ]
    process = start_python(
        ["-S", "-u", "solution.py", *arguments],
        environment=quiet_environment(PYTHONPATH=f"{REPOSITORY}:{packages}"),
    )
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-3000:]
    assert "Test mAP on Synthetic" in output or "test_mAP" in output, output[-3000:]
