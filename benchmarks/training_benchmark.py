"""Speed of FlipReID training steps: throughput per backbone, input size, precision, device count
and XLA; the step against the forward pass and against the same network in PyTorch; and the cost
of the training loop itself. The same script is what to run on a GPU machine.

    python benchmarks/training_benchmark.py \\
        --cases resnet50:384x128:float32:1,resnet50:384x128:bfloat16:1,resnet50:384x128:float32:2
    python benchmarks/training_benchmark.py --compare_pytorch --cases resnet18:64x32
    python benchmarks/training_benchmark.py --loop --cases resnet18:64x32

Throughput (the default): a case is backbone:HxW:precision:devices[:xla][:eigen], precision one
of float32, float16, bfloat16 (--mixed_precision), devices the replica count (on a machine
without GPUs, logical CPU devices), "xla" to compile the step with XLA (jit_compile) and "eigen"
to run with TF_ENABLE_ONEDNN_OPTS=0 (TensorFlow's Eigen CPU kernels, its default on CPUs
without AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX; see tensorflow_setup.py).

--compare_pytorch: a case is backbone:HxW[:eigen]; in float32 on one device, the forward pass
(training mode, no gradients) and the whole step (forward, losses, backward, Adam update) of
the training model, then the same for the PyTorch model of benchmarks/torch_flipreid.py (needs
`pip install -r requirements-benchmarks.txt`), with the same threads.

--loop: a case is backbone:HxW; the training model's own step function called in a bare
Python loop, against Keras' fit with every callback a run has (progress lines, schedule,
GeM powers, history, TensorBoard, the divergence check, stop requests, checkpoints). The
per-step cost is the time from the end of step 5 to the end of step 25 within one fit, taken
after every callback's per-step work (the median of 3 interleaved rounds), so neither fit's
start nor the once-per-epoch work (the checkpoint, the history plots) enters it.

Steps use the training model with the mirror inside it (FlipReID), P x K = 4 x 4 images and a
fixed batch in memory, so the input pipeline is not measured (pipeline_benchmark.py does
that). Each case runs in a fresh process: 2 warm-up steps, then --steps timed steps.
"""

import os
import sys
import time

from common import MarkdownTable, measure_cases, measure_in_subprocess, parse_case_arguments

IDENTITY_NUM, IMAGE_NUM_PER_IDENTITY, TIMED_STEPS, CLASS_NUM = 4, 4, 5, 751
# --loop: the per-step cost from the end of step 5 to that of step 25, median of 3 rounds
LOOP_STEPS, LOOP_ROUNDS = (5, 25), 3


def mode_of(case: str) -> str:
    """Which measurement a case is for: the mode travels in the case name to the subprocess."""
    return case.split("@")[0] if "@" in case else "throughput"


def run_case(case: str) -> dict:
    mode = mode_of(case)
    case = case.split("@")[-1]
    if "eigen" in case.split(":"):
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"  # before tensorflow_setup sets its default
    if mode == "pytorch":
        return run_pytorch_case(case)
    import tensorflow_setup  # noqa: F401, I001  (before TensorFlow is imported)

    if mode == "compare":
        return run_tensorflow_comparison_case(case)
    if mode == "loop":
        return run_loop_case(case)
    return run_throughput_case(case)


def parse_size(size: str) -> tuple[int, int]:
    image_height, image_width = (int(value) for value in size.split("x"))
    return image_height, image_width


def build_training_model(
    backbone_model_name: str, image_size: tuple[int, int], *, regularization=None, **options
):
    """The training model with the mirror inside, compiled with `options`; L2 factors from
    `regularization` (a RegularizationSettings; none by default)."""
    import applications
    from applications import ModelSettings

    image_height, image_width = image_size
    training_model, _ = applications.init_model(
        ModelSettings(
            backbone_model_name=backbone_model_name,
            image_height=image_height,
            image_width=image_width,
            use_horizontal_flipping_inside_model=True,
        ),
        class_num=CLASS_NUM,
        use_pretrained_backbone=False,
        regularization=regularization,
    )
    applications.compile_training_model(training_model, **options)
    return training_model


def fixed_batch(training_model, image_size: tuple[int, int]):
    """(images, targets) as tensors: random pixels, P identities of K images each."""
    import numpy as np
    import tensorflow as tf

    batch_size = IDENTITY_NUM * IMAGE_NUM_PER_IDENTITY
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (batch_size, *image_size, 3)).astype(np.float32)
    labels = np.repeat(np.arange(IDENTITY_NUM), IMAGE_NUM_PER_IDENTITY)
    one_hot = np.eye(CLASS_NUM, dtype=np.float32)[labels]
    targets = tuple(
        labels if name.endswith("_embedding") else one_hot for name in training_model.output_names
    )
    return tf.constant(images), tuple(tf.constant(target) for target in targets)


def seconds_per_call(function, *, warmup: int = 2, calls: int = TIMED_STEPS) -> float:
    for _ in range(warmup):
        function()
    start = time.perf_counter()
    for _ in range(calls):
        function()
    return (time.perf_counter() - start) / calls


def step_function(training_model, batch):
    """The compiled model's own train step (what fit runs once per step), on `batch`."""
    import tensorflow as tf

    iterator = iter(tf.data.Dataset.from_tensors(batch).repeat())
    training_model.make_train_function()  # Keras 3 keeps it as train_function
    train_function = training_model.train_function

    def step():
        logs = train_function(iterator)
        float(logs["loss"])  # wait for the step to finish

    return step


def run_throughput_case(case: str) -> dict:
    from training import DeviceSettings, configure_devices

    backbone_model_name, size, precision, devices, *options = case.split(":")
    image_size = parse_size(size)
    strategy = configure_devices(
        DeviceSettings(
            mixed_precision=precision,
            logical_cpu_device_num=int(devices),
            jit_compile="xla" in options,
        )
    )
    with strategy.scope():
        training_model = build_training_model(
            backbone_model_name, image_size, jit_compile="xla" in options
        )
    images, targets = fixed_batch(training_model, image_size)
    seconds_per_step = seconds_per_call(lambda: training_model.train_on_batch(images, targets))
    return {
        "seconds_per_step": seconds_per_step,
        "images_per_second": len(images) / seconds_per_step,
        "replicas": strategy.num_replicas_in_sync,
    }


def run_tensorflow_comparison_case(case: str) -> dict:
    import tensorflow as tf

    backbone_model_name, size, *_ = case.split(":")
    image_size = parse_size(size)
    training_model = build_training_model(backbone_model_name, image_size)
    images, targets = fixed_batch(training_model, image_size)
    forward = tf.function(lambda: training_model(images, training=True))
    forward_seconds = seconds_per_call(lambda: [output.numpy() for output in forward()])
    step_seconds = seconds_per_call(step_function(training_model, (images, targets)))
    return {"forward_seconds": forward_seconds, "step_seconds": step_seconds}


def run_pytorch_case(case: str) -> dict:
    import torch
    from torch_flipreid import FlipReIDNet, training_loss

    torch.set_num_threads(os.cpu_count())  # TensorFlow's default: every core
    backbone_model_name, size, *_ = case.split(":")
    image_height, image_width = parse_size(size)
    torch.manual_seed(0)
    model = FlipReIDNet(backbone_model_name, class_num=CLASS_NUM).train()
    batch_size = IDENTITY_NUM * IMAGE_NUM_PER_IDENTITY
    images = torch.randint(0, 256, (batch_size, 3, image_height, image_width)).float() / 255
    labels = torch.arange(IDENTITY_NUM).repeat_interleave(IMAGE_NUM_PER_IDENTITY)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-4)

    def forward():
        with torch.no_grad():
            model(images)

    def step():
        optimizer.zero_grad()
        training_loss(model, images, labels).backward()
        optimizer.step()

    return {
        "forward_seconds": seconds_per_call(forward),
        "step_seconds": seconds_per_call(step),
        "torch_version": torch.__version__,
    }


def run_loop_case(case: str) -> dict:
    import tempfile

    import keras
    import numpy as np
    import tensorflow as tf

    import training
    from callbacks import EvaluationSettings, LearningRateSettings, Progress, RunState, StopRequest

    backbone_model_name, size, *_ = case.split(":")
    image_size = parse_size(size)
    training_model = build_training_model(backbone_model_name, image_size)
    batch = fixed_batch(training_model, image_size)
    step = step_function(training_model, batch)
    dataset = tf.data.Dataset.from_tensors(batch).repeat()

    class StepClock(keras.callbacks.Callback):
        """Last of the callbacks: the time at the end of each step, after every callback's
        per-step work."""

        def __init__(self):
            super().__init__()
            self.times = []

        def on_train_batch_end(self, batch, logs=None):
            self.times.append(time.perf_counter())

    def fit(steps: int, folder_path: str) -> list[float]:
        settings = training.TrainingSettings(
            freeze_backbone_for_N_epochs=0, epoch_num=1, steps_per_epoch=steps
        )
        clock = StepClock()
        epoch_callbacks = training.build_callbacks(
            progress=Progress(),
            run_state=RunState(folder_path),
            stop_request=StopRequest(),
            settings=settings,
            learning_rate=LearningRateSettings(),
            evaluation=EvaluationSettings(),
            evaluators=[],
            weights_file_path=os.path.join(folder_path, "training_model.h5"),
            images_per_step=len(batch[0]),
            resume_command="",
        )
        training_model.fit(
            dataset, steps_per_epoch=steps, epochs=1, callbacks=[*epoch_callbacks, clock], verbose=0
        )
        return clock.times

    def bare_loop(steps: int) -> list[float]:
        times = []
        for _ in range(steps):
            step()
            times.append(time.perf_counter())
        return times

    def per_step(times: list[float]) -> float:
        first, last = LOOP_STEPS
        return (times[last - 1] - times[first - 1]) / (last - first)

    with tempfile.TemporaryDirectory() as folder_path:
        sys.stdout = open(os.devnull, "w")  # the progress lines; the result is printed later
        seconds_per_call(step)
        fit(2, os.path.join(folder_path, "warm-up"))
        bare, with_fit = [], []
        for round_index in range(LOOP_ROUNDS):  # interleaved, so that drifts hit both alike
            bare.append(per_step(bare_loop(LOOP_STEPS[1])))
            with_fit.append(
                per_step(fit(LOOP_STEPS[1], os.path.join(folder_path, str(round_index))))
            )
        sys.stdout = sys.__stdout__
    return {"bare_seconds": float(np.median(bare)), "fit_seconds": float(np.median(with_fit))}


def milliseconds(seconds: float) -> str:
    return f"{1000 * seconds:,.0f}"


def main() -> None:
    mode = "throughput"
    for flag, name in (("--compare_pytorch", "compare"), ("--loop", "loop")):
        if flag in sys.argv:
            sys.argv.remove(flag)
            mode = name
    if mode == "compare":
        compare_with_pytorch()
    elif mode == "loop":
        compare_loops()
    else:
        measure_throughput()


def measure_throughput() -> None:
    arguments = parse_case_arguments(
        __doc__.splitlines()[0],
        default_cases=(
            "resnet50:384x128:float32:1,resnet50:384x128:bfloat16:1,"
            "resnet50:384x128:float32:2,resnet50:384x128:float32:1:xla"
        ),
        output_file_name="training.md",
        run_case=run_case,
    )
    table = measure_cases(
        __file__,
        arguments.cases.split(","),
        columns=[
            "backbone",
            "input",
            "precision",
            "devices",
            "XLA",
            "CPU kernels",
            "seconds per step",
            "images per second",
            "peak memory (GB)",
        ],
        describe_case=lambda case: [
            *case.split(":")[:4],
            "yes" if "xla" in case else "no",
            kernels_of(case),
        ],
        format_result=lambda result: [
            f"{result['seconds_per_step']:.2f}",
            f"{result['images_per_second']:.1f}",
            f"{result['peak_gb']:.2f}",
        ],
    )
    table.save(arguments.output)


def kernels_of(case: str) -> str:
    return "Eigen" if "eigen" in case.split(":") else "oneDNN"


def compare_with_pytorch() -> None:
    arguments = parse_case_arguments(
        __doc__.splitlines()[0],
        default_cases="resnet18:32x16,resnet18:64x32,resnet50:384x128",
        output_file_name="training_vs_pytorch.md",
        run_case=run_case,
    )
    columns = [
        "backbone",
        "input",
        "TensorFlow CPU kernels",
        "TF forward (ms)",
        "TF step (ms)",
        "TF step / forward",
        "PyTorch forward (ms)",
        "PyTorch step (ms)",
        "PyTorch step / forward",
        "TF step / PyTorch step",
    ]
    table = MarkdownTable(columns)
    for case in arguments.cases.split(","):
        ours = measure_in_subprocess(__file__, f"compare@{case}")
        theirs = measure_in_subprocess(__file__, f"pytorch@{case}")
        cells = [*case.split(":")[:2], kernels_of(case)]
        if "error" in ours or "error" in theirs:
            error = ours.get("error") or theirs.get("error")
            table.add_row([*cells, f"failed: {error}", *[""] * (len(columns) - len(cells) - 1)])
            continue
        table.add_row(
            [
                *cells,
                milliseconds(ours["forward_seconds"]),
                milliseconds(ours["step_seconds"]),
                f"{ours['step_seconds'] / ours['forward_seconds']:.1f}",
                milliseconds(theirs["forward_seconds"]),
                milliseconds(theirs["step_seconds"]),
                f"{theirs['step_seconds'] / theirs['forward_seconds']:.1f}",
                f"{ours['step_seconds'] / theirs['step_seconds']:.2f}",
            ]
        )
    table.lines.insert(1, f"PyTorch {theirs.get('torch_version', '?')}, threads = cores")
    table.save(arguments.output)


def compare_loops() -> None:
    arguments = parse_case_arguments(
        __doc__.splitlines()[0],
        default_cases="resnet18:64x32",
        output_file_name="training_loop.md",
        run_case=run_case,
    )
    table = measure_cases(
        __file__,
        [f"loop@{case}" for case in arguments.cases.split(",")],
        columns=[
            "backbone",
            "input",
            "bare loop (ms per step)",
            "fit with the run's callbacks (ms per step)",
            "extra",
        ],
        describe_case=lambda case: case.split("@")[1].split(":")[:2],
        format_result=lambda result: [
            milliseconds(result["bare_seconds"]),
            milliseconds(result["fit_seconds"]),
            f"{100 * (result['fit_seconds'] / result['bare_seconds'] - 1):+.1f}%",
        ],
    )
    table.save(arguments.output)


if __name__ == "__main__":
    main()
