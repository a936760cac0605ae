"""Shared by the tests: `tf.keras` is Keras 2 in the test processes (for the reference,
tests/keras2_reference; the program itself uses `keras`, Keras 3, and never `tf.keras`), and the
helpers that run this project's programs in fresh interpreters, as users do (without that
setting)."""

import os

# TensorFlow binds tensorflow.keras when it is first imported: set before that import.
os.environ["TF_USE_LEGACY_KERAS"] = "1"

import tensorflow_setup  # noqa: F401, I001, E402

import dataclasses  # noqa: E402
import re  # noqa: E402
import subprocess
import sys

import pytest

from datasets import generate_synthetic_dataset
from settings import SyntheticSettings

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Small and fast: resnet18 from scratch at 64x32, batches of 4 identities x 2 images.
SHRUNK = [
    "--backbone_model_name",
    "resnet18",
    "--nouse_pretrained_backbone",
    "--image_height",
    "64",
    "--image_width",
    "32",
    "--identity_num_per_batch",
    "4",
    "--image_num_per_identity",
    "2",
    "--workers",
    "2",
]


# The files that take longest (measured: python -m pytest --durations=60), started first: the
# two processes take files one at a time, so a long file left for the end runs alone.
LONGEST_FILES_FIRST = (
    "test_crash_consistency.py",
    "test_keras_hub_backbones.py",
    "test_search.py",
    "test_devices.py",
    "test_solution.py",
    "test_keras3_model.py",
    "test_optimizers.py",
    "test_jax_training.py",
)


def pytest_collection_modifyitems(items) -> None:
    """Longest files first; the others, and the tests within each file, in their own order."""
    rank = {name: index for index, name in enumerate(LONGEST_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def without_tensorflow(folder) -> dict:
    """An environment in which importing TensorFlow, Keras, tf_keras or tf2cv fails loudly:
    packages of those names in folder, first on the path, that raise ImportError."""
    for name in ("tensorflow", "keras", "tf_keras", "tf2cv"):
        (folder / name).mkdir(parents=True, exist_ok=True)
        (folder / name / "__init__.py").write_text(
            f"raise ImportError('{name} imported where it must not be')\n"
        )
    return quiet_environment(PYTHONPATH=str(folder))


def start_process(command: list[str], *, environment: dict | None = None) -> subprocess.Popen:
    """`command` in the repository, stdout and stderr together as text."""
    return subprocess.Popen(
        command,
        cwd=REPOSITORY,
        env=environment if environment is not None else quiet_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def start_python(arguments: list[str], *, environment: dict | None = None) -> subprocess.Popen:
    """`python arguments...` in the repository."""
    return start_process([sys.executable, *arguments], environment=environment)


def quiet_environment(**changes: str) -> dict:
    """os.environ as a user's (without the tests' TF_USE_LEGACY_KERAS) and without
    TensorFlow's C++ info lines, with `changes` applied."""
    environment = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    return {**environment, "TF_CPP_MIN_LOG_LEVEL": "2", **changes}


def start_solution(arguments: list[str], **options) -> subprocess.Popen:
    return start_python(["-u", "solution.py", *arguments], **options)


def evaluate_concurrently(variants: dict[str, list[str]]) -> dict[str, tuple[str, float]]:
    """Run solution.py once per variant (an --evaluation_only command), all at once; returns
    {variant: (output, the test mAP it printed)} after checking that each ended well."""
    processes = {name: start_solution(arguments) for name, arguments in variants.items()}
    results = {}
    for name, process in processes.items():
        output, _ = process.communicate(timeout=600)
        assert process.returncode == 0, (name, output[-3000:])
        found = re.search(r"Test mAP on [^:]+: ([0-9.]+)%", output)
        results[name] = (output, float(found[1]) / 100)
    return results


def run_solution(
    arguments: list[str], timeout: float = 900, environment: dict | None = None
) -> tuple[int, str]:
    """(exit status, output) of solution.py run to its end."""
    process = start_solution(arguments, environment=environment)
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


def assert_one_error(result, phrases):
    """result: (exit status, output) of a program that must refuse with one Error paragraph
    holding each of the phrases."""
    returncode, output = result
    assert returncode == 1, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    message = output[output.index("Error: ") :]
    for phrase in phrases:
        assert phrase in message, (phrase, output[-3000:])


def assert_identical(found, expected, *, what: str) -> None:
    """Exact equality of two arrays (NaN equal to NaN); a failure names `what`, how many
    elements differ and the first of them with both values."""
    import numpy as np

    found, expected = np.asarray(found), np.asarray(expected)
    assert found.shape == expected.shape, f"{what}: shape {found.shape}, expected {expected.shape}"
    same = found == expected
    if found.dtype.kind == "f" and expected.dtype.kind == "f":
        same |= np.isnan(found) & np.isnan(expected)
    differing = np.argwhere(~np.asarray(same))
    if len(differing):
        index = tuple(int(i) for i in differing[0])
        raise AssertionError(
            f"{what}: {len(differing)} of {found.size} elements differ; the first at {index}: "
            f"{found[index]!r}, expected {expected[index]!r}"
        )


# A small synthetic dataset: 12 training identities, 6 test identities, 3 cameras, 64x32.
# The generated Market1501 tree of the trained-model fixtures (and of copies in other layouts).
SMALL_MARKET = SyntheticSettings(
    synthetic_train_identity_num=12,
    synthetic_test_identity_num=10,
    synthetic_camera_num=4,
    synthetic_image_height=64,
    synthetic_image_width=32,
)
TINY_SYNTHETIC = SyntheticSettings(
    synthetic_train_identity_num=12,
    synthetic_test_identity_num=6,
    synthetic_camera_num=3,
    synthetic_image_height=64,
    synthetic_image_width=32,
)


def synthetic_dataset_flags(settings: SyntheticSettings = TINY_SYNTHETIC) -> list[str]:
    """--dataset_name Synthetic and the flags that give `settings`."""
    flags = ["--dataset_name", "Synthetic"]
    for field in dataclasses.fields(settings):
        flags += [f"--{field.name}", str(getattr(settings, field.name))]
    return flags


# The seed README's training command, with few steps (the dataset and sizes come on top).
SEED_TRAINING = [
    "--dataset_name",
    "Market1501",
    "--use_horizontal_flipping_inside_model",
    "--nouse_horizontal_flipping_in_evaluation",
    "--steps_per_epoch",
    "2",
    "--epoch_num",
    "2",
]


def seed_evaluation_command(
    *, weights_file_path: str, output_folder_path: str, every_N_epochs: str = "1"
) -> list[str]:
    """The seed README's evaluation command (backbone and sizes are added by the caller), with
    these paths."""
    return [
        "--dataset_name",
        "Market1501",
        "--pretrained_model_file_path",
        weights_file_path,
        "--use_horizontal_flipping_inside_model",
        "--use_horizontal_flipping_in_evaluation",
        "--output_folder_path",
        output_folder_path,
        "--evaluation_only",
        "--freeze_backbone_for_N_epochs",
        "0",
        "--testing_size",
        "1.0",
        "--evaluate_testing_every_N_epochs",
        every_N_epochs,
    ]


@pytest.fixture(scope="session")
def market_root(tmp_path_factory):
    """A small Market1501 tree (generated), with one unreadable training and gallery image."""
    root = generate_synthetic_dataset(str(tmp_path_factory.mktemp("data")), SMALL_MARKET)
    for split in ("bounding_box_train", "bounding_box_test"):
        folder = os.path.join(root, "Market-1501-v15.09.15", split)
        victim = sorted(name for name in os.listdir(folder) if not name.startswith("-1"))[3]
        with open(os.path.join(folder, victim), "wb") as damaged:
            damaged.write(b"\xff\xd8 not really a jpeg")
    return root


@pytest.fixture(scope="session")
def trained(market_root, tmp_path_factory):
    """(arguments, output folder, exit status, output) of the seed's training command, shrunk:
    1 + 2 epochs of 2 steps, with re-ranking and features saved."""
    output_root = str(tmp_path_factory.mktemp("output"))
    arguments = [
        *SEED_TRAINING,
        *SHRUNK,
        "--root_folder_path",
        market_root,
        "--output_folder_path",
        output_root,
        "--freeze_backbone_for_N_epochs",
        "1",
        "--evaluate_testing_every_N_epochs",
        "1",
        "--use_re_ranking",
        "--save_data_to_disk",
    ]
    returncode, output = run_solution(arguments)
    return arguments, os.path.join(output_root, "Market1501_resnet18"), returncode, output
