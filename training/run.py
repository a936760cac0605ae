"""One run of solution.py from its settings: the devices, the output folder and its lock, the
datasets, the model, then training (evaluating on the way) or evaluation only.

    run(settings, run_log=RunLog.start(), flags_text=..., command="python3 -u solution.py ...")
"""

import tensorflow_setup  # noqa: F401, I001  (oneDNN and a quiet start, before TensorFlow is imported)

import functools
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass

import pandas as pd
import keras
import tensorflow as tf

import applications
import callbacks
import datasets
import image_augmentation
from applications import WeightsFileError
from atomic_files import WriteError, format_bytes, write_atomically
from callbacks import ResumePoint, RunInterrupted, RunState, TrainingDivergedError
from callbacks.results import (
    TestingSetName,
    result_rows,
    write_results,
)
from datasets import DatasetError
from deployment import best_same_person_thresholds
from datasets.run_datasets import (
    TestingSet,
    load_testing_sets,
    load_training_datasets,
)
from datasets.sampling import TooFewIdentitiesError, check_enough_identities
from load_backbones import BackboneError
from settings import Settings, SettingsError, check_batch_split

from .devices import configure_devices, is_chief
from .devices import describe as describe_devices
from .loop import DatasetChangedError, check_same_dataset, train
from .output_folder import (
    FINISHED_FILE_NAME,
    OutputFolderError,
    OutputFolderLock,
    prepare_output_folder,
    remove_if_only_a_start,
)
from .run_log import RunLog


__all__ = ["RUN_ERRORS", "RunInterrupted", "RunLog", "UsageError", "run"]


class UsageError(Exception):
    """A flag combination or a file that cannot work; the message says what to change."""


# What stops a run with its message (exit status 1) rather than a traceback.
RUN_ERRORS = (
    DatasetError,
    BackboneError,
    TooFewIdentitiesError,
    SettingsError,
    OutputFolderError,
    TrainingDivergedError,
    WeightsFileError,
    UsageError,
    WriteError,
    DatasetChangedError,
)


def check_run_can_start(settings: Settings) -> None:
    """UsageError, saying what to do, for what no run can start with: Keras on a backend the
    program does not run on (training on several devices is tf.distribute's: TensorFlow only),
    --evaluation_only without a weights file."""
    several_devices = settings.devices.logical_cpu_device_num > 1 or "TF_CONFIG" in os.environ
    if several_devices and not settings.run.evaluation_only:
        problem = tensorflow_setup.keras_backend_problem(
            "Training on several devices (tf.distribute)"
        )
    else:
        problem = tensorflow_setup.keras_backend_problem(
            "solution.py", backends=("tensorflow", "jax")
        )
    if problem:
        raise UsageError(problem)
    file_path = settings.run.pretrained_model_file_path
    if settings.run.evaluation_only and not os.path.isfile(file_path):
        raise UsageError(
            "--evaluation_only needs --pretrained_model_file_path pointing at the .h5 weights "
            "written by training (training_model.h5 or inference_model.h5) or a 2021 release "
            f"checkpoint; got {file_path!r}."
        )


def run(settings: Settings, *, run_log: RunLog, flags_text: str, command: str) -> None:
    """flags_text: the run's flags (flags.txt); command: the command line, for resuming."""
    files = settings.run
    check_run_can_start(settings)
    strategy = configure_devices(settings.devices)  # before anything touches devices
    print(describe_devices(strategy), flush=True)
    if settings.training is not None:
        check_batch_split(settings.sampling, strategy.num_replicas_in_sync)
    output_folder_path = output_folder_of(settings)
    chief = is_chief(strategy)
    created = chief and not os.path.exists(output_folder_path)
    # One writer per folder, before anything in it changes; released when the process ends.
    lock = OutputFolderLock.acquire(output_folder_path, command=command) if chief else None
    worker_folder_path = None if chief else tempfile.mkdtemp(prefix="flipreid-worker-")
    run_state = None
    if settings.training is not None:
        run_state = RunState(
            worker_folder_path or output_folder_path, resume_folder_path=output_folder_path
        )
    try:
        resume_point = prepare_output_folder(
            output_folder_path,
            flags_text=flags_text,
            overwrite=files.overwrite_output_folder,
            training_epoch_num=None
            if settings.training is None
            else settings.training.phases.epoch_num,
            steps_per_epoch=0 if settings.training is None else settings.training.steps_per_epoch,
            run_state=run_state,
            writable=chief,
        )
        run_log.write_into(worker_folder_path or output_folder_path)  # the folder is ours now
        if not chief:
            # The other workers of a cluster compute the same, write into a folder of their own
            # that is deleted at the end, and continue from the chief's checkpoints.
            print(f"Not the chief: this worker's files go to {worker_folder_path}, then deleted.")
        train_or_evaluate(
            settings,
            strategy=strategy,
            output_folder_path=worker_folder_path or output_folder_path,
            run_state=run_state,
            resume_point=resume_point,
            command=command,
        )
    except (*RUN_ERRORS, KeyboardInterrupt):
        if created:  # a start that failed or was stopped leaves no folder behind
            remove_if_only_a_start(output_folder_path)
        raise
    finally:
        if worker_folder_path is not None:
            shutil.rmtree(worker_folder_path, ignore_errors=True)
        if lock is not None:
            lock.release()


def output_folder_of(settings: Settings) -> str:
    """output_folder_path/{dataset}_{backbone}."""
    return os.path.abspath(
        os.path.join(
            os.path.expanduser(settings.run.output_folder_path),
            f"{settings.dataset.label}_{settings.model.backbone_model_name}",
        )
    )


@dataclass(frozen=True)
class RunData:
    """What a run trains and tests on."""

    train_df: pd.DataFrame | None  # None when only evaluating on other datasets
    identity_encoder: object | None  # the training identities' LabelEncoder
    testing_sets: list[TestingSet]
    class_num: int  # identities of the classifier heads
    fingerprint: dict | None  # of every split, for a resumed run to check (None: evaluation)
    dataset_of_rows: object | None = None  # each training image's dataset, with several


def train_or_evaluate(
    settings: Settings,
    *,
    strategy: tf.distribute.Strategy,
    output_folder_path: str,
    run_state: RunState | None,
    resume_point: ResumePoint | None,
    command: str,
) -> None:
    keras.utils.set_random_seed(settings.synthetic.seed)
    data = load_run_data(settings)
    if data.fingerprint is not None:
        check_same_dataset(resume_point, data.fingerprint)
    with strategy.scope():
        training_model, inference_model = build_models(settings, class_num=data.class_num)
    evaluators = make_evaluators(
        settings,
        inference_model=inference_model,
        testing_sets=data.testing_sets,
        output_folder_path=output_folder_path,
    )
    testing_set_names = [TestingSetName(t.label, t.log_prefix) for t in data.testing_sets]
    if settings.run.evaluation_only:
        evaluate_only(
            evaluators, testing_set_names=testing_set_names, output_folder_path=output_folder_path
        )
        return
    weights_file_path = train(
        training_model,
        strategy=strategy,
        datasets_from_step=training_inputs(
            settings, data, output_names=training_model.output_names
        ),
        settings=settings.training,
        learning_rate=settings.learning_rate,
        optimizer_settings=settings.optimizer,
        evaluation=settings.evaluation,
        evaluators=evaluators,
        testing_set_names=testing_set_names,
        output_folder_path=output_folder_path,
        run_state=run_state,
        resume_point=resume_point,
        dataset_fingerprint=data.fingerprint,
        images_per_step=settings.sampling.batch_size,
        resume_command=command,
        jit_compile=settings.devices.jit_compile,
        trained_on=list(settings.dataset.training_labels),
    )
    finish_training(
        settings,
        inference_model=inference_model,
        class_num=data.class_num,
        weights_file_path=weights_file_path,
        output_folder_path=output_folder_path,
        run_state=run_state,
    )


def load_run_data(settings: Settings) -> RunData:
    """The training datasets (in evaluation-only mode only their test sets, if tested on) and
    the test sets; stops before the model is built if there are too few identities for P x K."""
    evaluation_only = settings.run.evaluation_only
    sources = dict(
        dataset=settings.dataset, synthetic=settings.synthetic, workers=settings.run.workers
    )
    training = None
    evaluating_elsewhere = evaluation_only and settings.dataset.testing_dataset_names
    if not evaluating_elsewhere:  # the training datasets (in evaluation-only mode, their tests)
        training = load_training_datasets(**sources)
    testing_sets = load_testing_sets(
        **sources, training_test_sets=None if training is None else training.test_sets
    )
    if evaluation_only:  # the heads are those of the file; an inference model has none
        description = applications.describe_model_file(settings.run.pretrained_model_file_path)
        return RunData(
            train_df=None,
            identity_encoder=None,
            testing_sets=testing_sets,
            class_num=description.class_num or 1,
            fingerprint=None,
        )
    train_df = training.train_df
    dataset_of_rows = training.dataset_of_rows if settings.dataset.one_dataset_per_batch else None
    check_enough_identities(
        training.identity_encoder.transform(train_df["identity_ID"]),
        settings.sampling,
        dataset_of_rows=dataset_of_rows,
        dataset_names=settings.dataset.training_labels,
    )
    test_splits = {}
    for testing_set in testing_sets:
        test_splits[f"{testing_set.label} query"] = testing_set.query_df
        test_splits[f"{testing_set.label} gallery"] = testing_set.gallery_df
    fingerprint = datasets.dataset_fingerprint({"train": train_df, **test_splits})
    class_num = len(training.identity_encoder.classes_)
    return RunData(
        train_df=train_df,
        identity_encoder=training.identity_encoder,
        testing_sets=testing_sets,
        class_num=class_num,
        fingerprint=fingerprint,
        dataset_of_rows=dataset_of_rows,
    )


def build_models(settings: Settings, *, class_num: int):
    """(training_model, inference_model), with the weights of --pretrained_model_file_path."""
    weights_file_path = settings.run.pretrained_model_file_path
    training_model, inference_model = applications.init_model(
        settings.model,
        class_num=class_num,
        # Weights to load replace ImageNet's: no need to download them.
        use_pretrained_backbone=settings.run.use_pretrained_backbone and not weights_file_path,
        pretrained_backbone_weights_file_path=settings.run.pretrained_backbone_weights_file_path,
        regularization=settings.regularization,
    )
    if weights_file_path:
        kind, heads_skipped = applications.load_weights_file(
            training_model, inference_model, weights_file_path
        )
        print(f"Loaded the {kind} model weights of {weights_file_path}")
        if heads_skipped:
            print(
                "Its classifier heads were left out: they are for another number of "
                f"identities than this run's {class_num}, and play no part in evaluation."
            )
    return training_model, inference_model


def training_inputs(settings: Settings, data: RunData, *, output_names: list[str]):
    """The training batches from a given step on (see training.train's datasets_from_step)."""
    return functools.partial(
        image_augmentation.build_training_dataset,
        image_file_paths=data.train_df["image_file_path"],
        identity_labels=data.identity_encoder.transform(data.train_df["identity_ID"]),
        class_num=data.class_num,
        output_names=output_names,
        sampling=settings.sampling,
        image_size=(settings.model.image_height, settings.model.image_width),
        augmentation=settings.augmentation,
        workers=settings.run.workers,
        seed=settings.synthetic.seed,
        dataset_of_rows=data.dataset_of_rows,
    )


def make_evaluators(
    settings: Settings,
    *,
    inference_model: keras.Model,
    testing_sets: list[TestingSet],
    output_folder_path: str,
) -> list[callbacks.Evaluator]:
    """One evaluator per test set, the watched one first."""
    return [
        callbacks.Evaluator(
            inference_model,
            query_df=testing_set.query_df,
            gallery_df=testing_set.gallery_df,
            settings=settings.evaluation,
            output_folder_path=output_folder_path,
            phases=None if settings.training is None else settings.training.phases,
            workers=settings.run.workers,
            dataset_label=testing_set.label,
            log_prefix=testing_set.log_prefix,
        )
        for testing_set in testing_sets
    ]


def finish_training(
    settings: Settings,
    *,
    inference_model: keras.Model,
    class_num: int,
    weights_file_path: str,
    output_folder_path: str,
    run_state: RunState,
) -> None:
    """The inference model (its description keeps the "same person?" thresholds of the
    evaluation its weights were chosen by), the finished mark (last: until then a rerun
    completes the rest), and the checkpoints pruned to --checkpoints_kept_after_training."""
    inference_model_path = os.path.join(output_folder_path, "inference_model.h5")
    # Writing a large model and removing checkpoints can take a while on a busy disk.
    print(
        f"\nWriting the standalone inference model ({inference_model_path}) and pruning the "
        "checkpoints ...",
        flush=True,
    )
    thresholds = best_same_person_thresholds(
        output_folder_path,
        flip_averaged=settings.evaluation.use_horizontal_flipping_in_evaluation,
    )
    applications.save_inference_model(
        inference_model,
        inference_model_path,
        settings=settings.model,
        class_num=class_num,
        more_description={
            "training_datasets": list(settings.dataset.training_labels),
            "combineall": settings.dataset.combineall,
            **({} if thresholds is None else thresholds.to_description()),
        },
    )
    write_finished_mark(output_folder_path)
    kept, removed_bytes = run_state.prune(settings.training.checkpoints_kept_after_training)
    print(
        f"\nDone. Weights: {weights_file_path}; standalone inference model: "
        f"{inference_model_path}; history, results and plots in {output_folder_path}. "
        f"Checkpoints: {len(kept)} kept"
        + (f", {format_bytes(removed_bytes)} removed" if removed_bytes else "")
        + " (--checkpoints_kept_after_training)."
    )


def write_finished_mark(output_folder_path: str) -> None:
    write_atomically(
        os.path.join(output_folder_path, FINISHED_FILE_NAME),
        json.dumps({"finished": time.strftime("%Y-%m-%d %H:%M:%S %Z")}) + "\n",
    )


def evaluate_only(evaluators, *, testing_set_names, output_folder_path: str) -> None:
    """Evaluate once on each test dataset, print each mAP, and keep the numbers in the output
    folder (results.csv, results.json); nothing is written beside the weights file."""
    if not evaluators:
        raise UsageError("--evaluation_only needs a test set: set --testing_size above 0.")
    logs = {}
    for evaluator in evaluators:
        logs.update(
            evaluator.evaluate("of the weights file", final=True, file_tag="evaluation only")
        )
    rows = result_rows([{"phase": "evaluation only", **logs}], testing_sets=testing_set_names)
    write_results(output_folder_path, rows, watched=evaluators[0].monitor)
    write_finished_mark(output_folder_path)  # last: until then the same command starts again
    print()
    for row in rows:
        kind = "" if row["distances"] == "plain" else f", {row['distances']}"
        print(
            f"Test mAP on {row['dataset']}{kind}: {100 * row['mAP_fraction']:.2f}% "
            f"(rank-1 {100 * row['rank1_fraction']:.2f}%)"
        )
    print(f"Results: {os.path.join(output_folder_path, 'results.csv')}", flush=True)
