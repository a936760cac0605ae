"""solution.py trains on Keras' JAX backend (applications/jax_step.py), and a JAX run killed
and continued ends exactly as one never interrupted: the same history, results and weights,
bit for bit, and the same optimizer state in its checkpoint (on JAX a checkpoint holds
TensorFlow copies of Keras' variables: callbacks/run_state.py). A run continues on the backend
it started on: TensorFlow refuses a JAX run's checkpoints with one message, and changes nothing.
search.py on JAX ranks a gallery as on TensorFlow.

The images are 96x48: XLA's CPU convolutions are slow on the 4x2 last feature map of 64x32
images (about 80 s a step of 32 images against 1 s on TensorFlow, measured on an AMD EPYC,
2026-12-07; docs/devices.md).
"""

import filecmp
import os
import signal

import numpy as np
import pandas as pd
from conftest import (
    SHRUNK,
    assert_identical,
    assert_one_error,
    quiet_environment,
    run_solution,
    start_python,
    synthetic_dataset_flags,
)
from test_crash_consistency import (
    assert_same_checkpoint_values,
    assert_same_weights,
    checkpoint_values,
    run_with_crash,
)

from datasets import generate_synthetic_dataset
from settings import SyntheticSettings

JAX = {"KERAS_BACKEND": "jax"}
DATASET = SyntheticSettings(
    synthetic_train_identity_num=8,
    synthetic_test_identity_num=4,
    synthetic_camera_num=2,
    synthetic_image_height=96,
    synthetic_image_width=48,
)
# 1 frozen + 1 whole-model epoch of 3 steps, evaluated after each.
RUN = [
    *SHRUNK,
    *synthetic_dataset_flags(DATASET),
    "--image_height",
    "96",
    "--image_width",
    "48",
    "--freeze_backbone_for_N_epochs",
    "1",
    "--epoch_num",
    "1",
    "--steps_per_epoch",
    "3",
    "--evaluate_testing_every_N_epochs",
    "1",
    "--use_horizontal_flipping_inside_model",
    "--learning_rate_mode",
    "constant",
    "--learning_rate_start",
    "5e-4",
    "--learning_rate_end",
    "5e-4",
    "--checkpoints_kept_after_training",
    "1",
]
FOLDER_NAME = "Synthetic_resnet18"


def test_a_jax_run_killed_and_continued_ends_as_the_uninterrupted_one(tmp_path):
    import concurrent.futures

    dataset_folder = generate_synthetic_dataset(str(tmp_path / "data"), DATASET)
    arguments = [*RUN, "--root_folder_path", str(tmp_path / "data")]
    uninterrupted = [*arguments, "--output_folder_path", str(tmp_path / "u")]
    crashed = [*arguments, "--output_folder_path", str(tmp_path / "c")]
    environment = quiet_environment(**JAX)

    def crash_chain():
        return [
            # SIGKILL once the first epoch's checkpoint is durable, its results not written;
            run_with_crash(crashed, "checkpoint saved:1", **JAX),
            # SIGTERM as the second epoch's second step begins: saved after its first two;
            run_with_crash(crashed, "train step begins:2:SIGTERM", **JAX),
            # TensorFlow refuses to continue it;
            run_solution(crashed, environment=quiet_environment()),
            # on JAX it runs to its end.
            run_solution(crashed, environment=environment),
        ]

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        chain = pool.submit(crash_chain)
        straight = pool.submit(run_solution, uninterrupted, environment=environment)
        outputs, (status, output) = chain.result(), straight.result()
    assert status == 0, output[-3000:]
    assert "Evaluation epoch 2 on Synthetic" in output
    statuses = [status for status, _ in outputs]
    assert statuses == [-signal.SIGKILL, 128 + signal.SIGTERM, 1, 0], outputs[-1][1][-3000:]
    assert "after epoch 1 of 2 (epoch 1 of 1 of phase 'frozen backbone')" in outputs[1][1]
    assert "Stopped on SIGTERM after step 2 of epoch 2" in outputs[1][1]
    assert_one_error(outputs[2], ["'jax' backend", "KERAS_BACKEND=jax", "Nothing was changed"])
    assert "after step 2 of 3 of epoch 2 of 2" in outputs[3][1]

    found, expected = tmp_path / "c" / FOLDER_NAME, tmp_path / "u" / FOLDER_NAME
    history = pd.read_csv(expected / "history.csv")
    assert history["epoch"].tolist() == [1, 2]
    assert (history["loss"] > 0).all() and (history["test_mAP_fraction"] > 0).all()
    found_history = pd.read_csv(found / "history.csv")
    for column in history.columns:
        assert_identical(found_history[column], history[column], what=f"history.csv, {column}")
    for name in ("history.csv", "results.csv", "results.json"):
        assert filecmp.cmp(found / name, expected / name, shallow=False), name
    for name in ("training_model.h5", "inference_model.h5"):
        assert_same_weights(found / name, expected / name)
    expected_values = checkpoint_values(expected / "checkpoints")
    found_values = checkpoint_values(found / "checkpoints")
    assert expected_values.keys() == found_values.keys()
    # The model's and the optimizer's variables (moments too), under the JAX key.
    model_keys = [name for name in expected_values if name.startswith("keras_variables/")]
    assert len(model_keys) > 300, sorted(expected_values)
    assert not any(name.startswith("model/") for name in expected_values)
    assert_same_checkpoint_values(found_values, expected_values, where=found)

    # search.py on JAX ranks the gallery as on TensorFlow, with the distances within float32
    # rounding (the JAX run's model; each backend extracts the features itself).
    market = os.path.join(dataset_folder, "Market-1501-v15.09.15")
    rankings = {}
    for backend in ("jax", "tensorflow"):
        process = start_python(
            [
                "search.py",
                "--model_file_path",
                str(expected / "inference_model.h5"),
                "--query_path",
                os.path.join(market, "query"),
                "--gallery_path",
                os.path.join(market, "bounding_box_test"),
                "--output_folder_path",
                str(tmp_path / f"search_{backend}"),
            ],
            environment=quiet_environment(KERAS_BACKEND=backend),
        )
        output, _ = process.communicate(timeout=600)
        assert process.returncode == 0, output[-3000:]
        rankings[backend] = pd.read_csv(tmp_path / f"search_{backend}" / "ranked_lists.csv")
    jax_ranking, tensorflow_ranking = rankings["jax"], rankings["tensorflow"]
    assert len(jax_ranking) > 0
    assert jax_ranking.columns.tolist() == tensorflow_ranking.columns.tolist()
    distance = next(name for name in jax_ranking.columns if "distance" in name)
    for column in jax_ranking.columns:
        if column != distance:
            assert jax_ranking[column].tolist() == tensorflow_ranking[column].tolist(), column
    np.testing.assert_allclose(jax_ranking[distance], tensorflow_ranking[distance], atol=1e-5)
