"""What the benchmark scripts share: the repository on sys.path, the machine's description, the
README's demo command, measuring a case in a fresh process, and a Markdown table that is
printed row by row and written (atomically) at the end."""

import argparse
import json
import os
import platform
import subprocess
import sys

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPOSITORY)

from atomic_files import write_atomically  # noqa: E402

RESULTS_FOLDER = os.path.join(REPOSITORY, "benchmarks", "results")
# The README's demo command without dataset and output paths (resnet18 from scratch at 64x32).
DEMO_ARGUMENTS = [
    "--dataset_name",
    "Synthetic",
    "--backbone_model_name",
    "resnet18",
    "--nouse_pretrained_backbone",
    "--image_height",
    "64",
    "--image_width",
    "32",
    "--identity_num_per_batch",
    "8",
    "--image_num_per_identity",
    "4",
    "--freeze_backbone_for_N_epochs",
    "1",
    "--learning_rate_mode",
    "constant",
    "--learning_rate_start",
    "5e-4",
    "--learning_rate_end",
    "5e-4",
    "--evaluate_testing_every_N_epochs",
    "1",
    "--workers",
    "2",
]


def cpu_description() -> str:
    """The CPU's model name and its widest vector instructions (oneDNN's digits and speed
    depend on them), from /proc/cpuinfo; the machine type elsewhere."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            pairs = [line.split(":", 1) for line in cpuinfo.read().splitlines() if ":" in line]
        fields = {key.strip(): value.strip() for key, value in pairs}
    except OSError:
        return platform.machine()
    flags = set(fields.get("flags", "").split())
    features = [name for name in ("avx512f", "avx512_bf16", "amx_tile") if name in flags]
    widest = ", ".join(features) if features else "avx2" if "avx2" in flags else "no AVX2"
    return f"{fields.get('model name', platform.machine())} ({widest})"


def machine_description() -> str:
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores of {cpu_description()}, {memory_gb:.0f} GB, "
        f"{platform.machine()}, Python {platform.python_version()}"
    )


def parse_case_arguments(
    description: str, *, default_cases: str, output_file_name: str, run_case
) -> argparse.Namespace:
    """--cases (comma-separated) and --output; with the hidden --run-one CASE (how
    measure_in_subprocess calls a script) this process runs run_case(CASE), prints its result
    as JSON and exits."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--cases", default=default_cases, help="comma-separated case names")
    parser.add_argument("--run-one", help=argparse.SUPPRESS)
    parser.add_argument("--output", default=os.path.join(RESULTS_FOLDER, output_file_name))
    arguments = parser.parse_args()
    if arguments.run_one:
        print(json.dumps(run_case(arguments.run_one)))
        sys.exit(0)
    return arguments


def measure_in_subprocess(script_path: str, case: str) -> dict:
    """Run one case of a benchmark script in a fresh interpreter; return its JSON result with
    the process's peak memory added as "peak_gb" (or {"error": ...} if it failed)."""
    process = subprocess.Popen(
        [sys.executable, script_path, "--run-one", case],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPOSITORY,
    )
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        return {"error": f"exit status {status}"}
    result = json.loads(output.strip().splitlines()[-1])
    result["peak_gb"] = usage.ru_maxrss / 2**20  # ru_maxrss is in KiB on Linux
    return result


class MarkdownTable:
    """Rows are printed as they come; save() writes the whole table, with the machine."""

    def __init__(self, columns: list[str]):
        self.lines = [
            f"Machine: {machine_description()}",
            "",
            "| " + " | ".join(columns) + " |",
            "|" + " --- |" * len(columns),
        ]
        print("\n".join(self.lines), flush=True)

    def add_row(self, cells: list) -> None:
        line = "| " + " | ".join(str(cell) for cell in cells) + " |"
        self.lines.append(line)
        print(line, flush=True)

    def save(self, file_path: str) -> None:
        write_atomically(file_path, "\n".join(self.lines) + "\n")
        print(f"Written to {file_path}")


def measure_cases(
    script_path: str, cases: list[str], *, columns: list[str], describe_case, format_result
) -> MarkdownTable:
    """Measure each case in a fresh process into a table: describe_case(case) gives the first
    cells, format_result(result) the others (or one cell saying how the case failed)."""
    table = MarkdownTable(columns)
    for case in cases:
        described = describe_case(case)
        result = measure_in_subprocess(script_path, case)
        if "error" in result:
            blanks = [""] * (len(columns) - len(described) - 1)
            table.add_row([*described, f"failed: {result['error']}", *blanks])
        else:
            table.add_row([*described, *format_result(result)])
    return table


def write_untrained_inference_model(
    file_path: str,
    *,
    backbone: str,
    height: int,
    width: int,
    seed: int | None = None,
    distinct_weights: bool = False,
):
    """An untrained FlipReID inference model saved as file_path with its .json, in a fresh
    process (TensorFlow stays out of the caller); seed: the same weights every time.

    distinct_weights, for speed measurements: every convolution kernel multiplied elementwise
    by 1 + 0.01 N(0, 1), so that no two layers hold the same weights, as after training. An
    untrained model's two last-stage copies (global and regional branch) are identical, and
    tf2onnx merges identical subgraphs: its ONNX model computes the last stage once (22
    convolutions instead of 27 at resnet18), 1.6 times as fast as the whole network at
    resnet18 64x32 (ONNX Runtime, 2026-12-05, docs/benchmarks.md). Speed does not otherwise
    depend on the weights' values."""
    script = f"""
import sys
sys.path.insert(0, {REPOSITORY!r})
import numpy as np
import applications
seed = {seed!r}
if seed is not None:
    import keras
    keras.utils.set_random_seed(seed)
from settings import ModelSettings
settings = ModelSettings(backbone_model_name={backbone!r}, image_height={height},
                         image_width={width}, use_horizontal_flipping_inside_model=True)
_, model = applications.init_model(settings, class_num=751, use_pretrained_backbone=False)
if {distinct_weights!r}:
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        if "kernel" in weight.name:
            value = weight.numpy()
            noise = 1 + 0.01 * rng.standard_normal(value.shape)
            weight.assign((value * noise).astype(value.dtype))
applications.save_inference_model(model, {file_path!r}, settings=settings, class_num=751)
"""
    subprocess.run([sys.executable, "-c", script], check=True, cwd=REPOSITORY)


def parse_step_case(case: str, *, default_rounds: int) -> dict:
    """A timing case "backbone:HxW:PxK:extraction batch[:rounds]" (e.g. resnet18:64x32:4x4:16:1)
    as the keyword arguments of time_step_and_extraction."""
    backbone, size, identities, batch, *rounds = case.split(":")
    height, width = (int(value) for value in size.split("x"))
    identity_num, image_num_per_identity = (int(value) for value in identities.split("x"))
    return {
        "backbone": backbone,
        "image_size": (height, width),
        "identity_num": identity_num,
        "image_num_per_identity": image_num_per_identity,
        "extraction_batch": int(batch),
        "rounds": int(rounds[0]) if rounds else default_rounds,
    }


def time_step_and_extraction(
    *,
    backbone: str,
    image_size: tuple[int, int],
    identity_num: int,
    image_num_per_identity: int,
    extraction_batch: int,
    rounds: int,
    calls_per_round: int = 3,
    class_num: int = 751,
) -> dict:
    """Seconds per training step and per feature extraction of the program's model on Keras'
    backend of this process: {"step", "extraction"} (the median over `rounds` rounds of
    `calls_per_round` calls), {"step_first", "extraction_first"} (the first call: the compile)
    and "parameters" (the inference model's).

    The training model has the mirror inside (use_horizontal_flipping_inside_model), the default
    L2 factors and Adam, as applications.compile_training_model compiles it; timed is
    train_on_batch on one fixed batch of identity_num x image_num_per_identity random images,
    and FeatureExtractor.embed (image and mirror, uint8 images as the evaluation feeds it) on
    `extraction_batch` images. Random weights drawn with seed 0."""
    import statistics
    import time

    import keras
    import numpy as np

    import applications
    from applications.features import FeatureExtractor
    from settings import ModelSettings, RegularizationSettings

    height, width = image_size
    keras.utils.set_random_seed(0)
    settings = ModelSettings(
        backbone_model_name=backbone,
        image_height=height,
        image_width=width,
        use_horizontal_flipping_inside_model=True,
    )
    training_model, inference_model = applications.init_model(
        settings,
        class_num=class_num,
        use_pretrained_backbone=False,
        regularization=RegularizationSettings(5e-4, 5e-4, 5e-4, 5e-4),
    )
    applications.compile_training_model(training_model, learning_rate=2e-4)
    rng = np.random.default_rng(0)
    image_num = identity_num * image_num_per_identity
    images = rng.integers(0, 256, (image_num, height, width, 3), dtype=np.uint8)
    labels = np.repeat(np.arange(identity_num), image_num_per_identity)
    one_hot = np.eye(class_num, dtype=np.float32)[labels]
    targets = tuple(
        labels if name.endswith("_embedding") else one_hot for name in training_model.output_names
    )
    extractor = FeatureExtractor(inference_model, use_horizontal_flipping=True)
    extraction_images = rng.integers(0, 256, (extraction_batch, height, width, 3), dtype=np.uint8)
    calls = {
        "step": lambda: float(training_model.train_on_batch(images, targets)[0]),
        "extraction": lambda: np.asarray(extractor.embed(extraction_images)).sum(),
    }
    result = {"parameters": inference_model.count_params()}
    for kind, call in calls.items():
        start = time.perf_counter()
        call()
        result[f"{kind}_first"] = time.perf_counter() - start
        call()
        seconds = []
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(calls_per_round):
                call()
            seconds.append((time.perf_counter() - start) / calls_per_round)
        result[kind] = statistics.median(seconds)
    return result
