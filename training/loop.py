"""The training loop: the two phases of FlipReID as Keras fits over one count of epochs, the
callbacks around them, stop signals and the checks that make a resumed run continue exactly."""

import tensorflow_setup  # noqa: F401, I001  (oneDNN and a quiet start, before TensorFlow is imported)

import contextlib
import os
import signal
from collections.abc import Callable, Iterator

import keras
import tensorflow as tf

import applications
import callbacks
import datasets
from callbacks import Progress, ResumePoint, RunState, StopRequest
from settings import EvaluationSettings, LearningRateSettings, OptimizerSettings, Phase
from callbacks.results import TestingSetName
from image_augmentation import ReplicaShare

from settings import TrainingSettings


class DatasetChangedError(Exception):
    """A resumed run would train or test on other images than its checkpoints did."""


def check_same_dataset(resume_point: ResumePoint | None, dataset_fingerprint: dict) -> None:
    """Raise DatasetChangedError, saying what changed, when the dataset differs from the one
    the checkpoint recorded (a moved dataset, the same files under another
    --root_folder_path, is the same)."""
    if resume_point is None or resume_point.dataset_fingerprint is None:
        return
    changes = datasets.describe_changes(resume_point.dataset_fingerprint, dataset_fingerprint)
    if changes:
        raise DatasetChangedError(
            f"The dataset is not the one the run in progress ({resume_point.checkpoint_path}) "
            f"was trained and tested on; nothing was changed. Differences:\n  {changes}\n"
            "A resumed run must see the same images, or its history would mix results of two "
            "datasets. Put the dataset back as it was, or start a new run in another "
            "--output_folder_path (or with --overwrite_output_folder)."
        )


def describe_progress(progress: Progress, settings: TrainingSettings) -> str:
    """Where a saved run stands, e.g. "after epoch 3 of 22 (epoch 3 of 20 of phase 'whole
    model')"."""
    phases = settings.phases
    if progress.epoch >= phases.epoch_num:
        return f"after its last epoch ({phases.epoch_num})"
    phase = phases.at(progress.epoch if progress.step else max(progress.epoch - 1, 0))
    where = (
        f"after step {progress.step} of {settings.steps_per_epoch} of epoch {progress.epoch + 1}"
        if progress.step
        else f"after epoch {progress.epoch}"
    )
    epoch_in_phase = progress.epoch - phase.first_epoch + (1 if progress.step else 0)
    return (
        f"{where} of {phases.epoch_num} (epoch {epoch_in_phase} of {phase.epoch_num} of phase "
        f"'{phase.name}')"
    )


def train(
    training_model: keras.Model,
    *,
    strategy: tf.distribute.Strategy,
    datasets_from_step: Callable[..., tf.data.Dataset],
    settings: TrainingSettings,
    learning_rate: LearningRateSettings,
    optimizer_settings: OptimizerSettings | None = None,
    evaluation: EvaluationSettings,
    evaluators: list[callbacks.Evaluator],
    testing_set_names: list[TestingSetName] = (),
    output_folder_path: str,
    run_state: RunState,
    resume_point: ResumePoint | None,
    dataset_fingerprint: dict | None = None,
    images_per_step: int,
    resume_command: str,
    jit_compile: bool = False,
    trained_on: list[str] | None = None,
) -> str:
    """Train both phases, or what is left of them after `resume_point`; returns the weights
    file, which holds the weights with the best test mAP (or the last weights without a test
    set), loaded into training_model.

    strategy: the one the model was built under. datasets_from_step(first_step=n, share=s): the
    training batches from batch n of the run on, the slices `s` of each (one input pipeline's
    replicas). evaluators: one per test dataset, the watched one (log entries test_*) first;
    testing_set_names: their labels and log prefixes (for results.csv); trained_on: the
    training datasets' labels (for results.json). run_state: where the
    checkpoints go; resume_point: the checkpoint to continue from (RunState.find_resume_point),
    None for a new run. dataset_fingerprint: saved in each checkpoint (check_same_dataset
    compares it at a resume). Raises callbacks.RunInterrupted after a SIGTERM or Ctrl-C (the
    state is saved first) and callbacks.TrainingDivergedError at a non-finite loss (nothing is
    saved from it).
    optimizer_settings: which optimizer (None: the 2021 release's Adam).
    """
    phases, steps_per_epoch = settings.phases, settings.steps_per_epoch
    weights_file_path = os.path.join(output_folder_path, "training_model.h5")
    progress = None if resume_point is None else resume_point.progress
    stop_request = StopRequest()
    with strategy.scope(), stop_signals_caught(stop_request):
        optimizer = applications.make_optimizer(training_model, optimizer_settings)
        if optimizer_settings not in (None, OptimizerSettings()):  # the 2021 runs print nothing
            print(f"Optimizer: {applications.describe_optimizer(optimizer)}", flush=True)

        def compile_for(phase: Phase) -> None:
            applications.set_backbone_trainable(training_model, phase.backbone_trainable)
            applications.compile_training_model(
                training_model, optimizer=optimizer, jit_compile=jit_compile
            )

        baseline = None
        if progress is None:
            progress = Progress()
            if evaluators and evaluation.evaluate_testing_before_training:
                baseline = {"epoch": 0, "phase": "before training"}
                for evaluator in evaluators:
                    baseline.update(evaluator.evaluate("before training"))
                progress.history.append(baseline)  # kept with the first epoch's checkpoint
        else:
            compile_for(phases.at(min(progress.epoch, phases.epoch_num - 1)))
            run_state.restore(training_model, resume_point.checkpoint_path)
            print(
                f"\nResuming from {resume_point.checkpoint_path}, "
                f"{describe_progress(progress, settings)}.",
                flush=True,
            )
        epoch_callbacks = build_callbacks(
            progress=progress,
            run_state=run_state,
            stop_request=stop_request,
            settings=settings,
            learning_rate=learning_rate,
            evaluation=evaluation,
            evaluators=evaluators,
            testing_set_names=testing_set_names,
            weights_file_path=weights_file_path,
            images_per_step=images_per_step,
            resume_command=resume_command,
            dataset_fingerprint=dataset_fingerprint,
            trained_on=trained_on,
        )
        if baseline is not None:  # TensorBoard's step 0; the files come with the first epoch's
            for callback in epoch_callbacks:
                if isinstance(callback, callbacks.TensorBoardLogger):
                    callback.write_records([baseline])
        if progress.epoch and not progress.step:
            # The newest checkpoint ends an epoch, and the checkpoint is written before that
            # epoch's results: write them again, in case the run stopped in between.
            for callback in epoch_callbacks:
                if hasattr(callback, "rewrite_latest"):
                    callback.set_model(training_model)
                    callback.rewrite_latest(progress)

        def fit(*, end_epoch: int) -> None:
            """Epochs progress.epoch .. end_epoch - 1, the first from step progress.step on."""
            training_model.fit(
                distributed_dataset(
                    strategy,
                    datasets_from_step,
                    first_step=progress.global_step(steps_per_epoch),
                ),
                initial_epoch=progress.epoch,
                epochs=end_epoch,
                steps_per_epoch=steps_per_epoch - progress.step,
                callbacks=epoch_callbacks,
                verbose=0,
                shuffle=False,  # the batches come in the order the run's seed gives them
            )

        for phase in phases:
            if phase.end_epoch <= progress.epoch:
                continue
            epochs = (
                f"epochs {phase.first_epoch + 1} to {phase.end_epoch}"
                if phase.epoch_num > 1
                else f"epoch {phase.end_epoch}"
            )
            print(
                f"\nPhase: {phase.name}, {epochs} of {phases.epoch_num}, "
                f"{steps_per_epoch} steps each",
                flush=True,
            )
            compile_for(phase)  # after the line: seconds on a busy machine
            if progress.step:  # an epoch stopped in the middle: its remaining steps first
                fit(end_epoch=progress.epoch + 1)
            if progress.epoch < phase.end_epoch:
                fit(end_epoch=phase.end_epoch)
        if not evaluators:  # no test set: the last weights are the result
            applications.save_weights_atomically(training_model, weights_file_path)
        else:
            applications.load_weights(training_model, weights_file_path)  # the best by mAP
    return weights_file_path


def build_callbacks(
    *,
    progress: Progress,
    run_state: RunState,
    stop_request: StopRequest,
    settings: TrainingSettings,
    learning_rate: LearningRateSettings,
    evaluation: EvaluationSettings,
    evaluators: list[callbacks.Evaluator],
    testing_set_names: list[TestingSetName] = (),
    weights_file_path: str,
    images_per_step: int,
    resume_command: str,
    dataset_fingerprint: dict | None = None,
    trained_on: list[str] | None = None,
) -> list[keras.callbacks.Callback]:
    """In the order they run at an epoch's end: the divergence check first (nothing sees a NaN
    step); then what adds to the logs; the record of the epoch; the checkpoint, which holds that
    record (so it is durable before the results below replace the old ones); the results (best
    weights, history files, TensorBoard, the epoch's line); and last the stop on request."""
    phases, steps_per_epoch = settings.phases, settings.steps_per_epoch
    output_folder_path = os.path.dirname(weights_file_path)
    history_logger = callbacks.HistoryLogger(phases, records=progress.history)
    saver = callbacks.RunStateSaver(
        run_state,
        progress=progress,
        history_records=history_logger.records,
        steps_per_epoch=steps_per_epoch,
        stop_request=stop_request,
        dataset_fingerprint=dataset_fingerprint,
    )
    best_weights = []
    if evaluators:
        best_weights = [
            callbacks.BestModelCheckpoint(
                weights_file_path, monitor=evaluation.monitor, history=progress.history
            )
        ]
    return [
        callbacks.StopOnNonFiniteLoss(
            steps_per_epoch=steps_per_epoch,
            weights_file_path=weights_file_path,
            checkpoint_folder_path=run_state.folder_path,
        ),
        callbacks.StepProgress(steps_per_epoch=steps_per_epoch, images_per_step=images_per_step),
        callbacks.LearningRateSetter(learning_rate, phases),
        callbacks.GeMPowerLogger(),
        *evaluators,
        callbacks.EpochTimer(),
        history_logger,
        callbacks.TimingWriter(output_folder_path, history_logger.records),
        saver,
        *best_weights,
        callbacks.HistoryWriter(
            output_folder_path,
            history_logger.records,
            testing_sets=testing_set_names,
            watched=evaluation.monitor,
            trained_on=trained_on,
        ),
        callbacks.TensorBoardLogger(
            os.path.join(output_folder_path, "tensorboard"), steps_per_epoch=steps_per_epoch
        ),
        callbacks.EpochPrinter(phases),
        callbacks.StopOnRequest(
            saver, steps_per_epoch=steps_per_epoch, resume_command=resume_command
        ),
    ]


def distributed_dataset(strategy: tf.distribute.Strategy, datasets_from_step, *, first_step: int):
    """On one device the dataset itself; otherwise one dataset per input pipeline (a worker),
    each making the slices of its replicas: each replica gets whole identities, and each
    worker reads only the images of its own replicas."""
    if strategy.num_replicas_in_sync == 1:
        return datasets_from_step(first_step=first_step, share=ReplicaShare())

    def replica_dataset(input_context: tf.distribute.InputContext) -> tf.data.Dataset:
        dataset = datasets_from_step(first_step=first_step, share=ReplicaShare.of(input_context))
        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            # Keras 3's fit averages a first batch over the replicas (training.devices.
            # MultiWorkerMirroredStrategy says why), and the collective operations between
            # machines take no uint8. float32 pixels are the same numbers to the network, whose
            # first layer casts them to float32.
            dataset = dataset.map(lambda images, targets: (tf.cast(images, tf.float32), targets))
        return dataset

    return strategy.distribute_datasets_from_function(replica_dataset)


@contextlib.contextmanager
def stop_signals_caught(stop_request: StopRequest) -> Iterator[None]:
    """SIGTERM and Ctrl-C (SIGINT) ask the run to save and stop after the current step, instead
    of killing it; a second Ctrl-C stops at once."""
    previous = {
        signal_number: signal.signal(signal_number, stop_request)
        for signal_number in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        yield
    finally:
        for signal_number, handler in previous.items():
            signal.signal(signal_number, handler)
