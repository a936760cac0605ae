"""Cost of the checkpoint written after every epoch: seconds and megabytes of one save and one
restore of a run's state (model, optimizer moments, progress), per backbone and input size.

    python benchmarks/checkpoint_benchmark.py [--cases resnet50:384x128,resnet18:64x32]

The model has the FlipReID structure with 751 classes (Market1501) and its optimizer is built, so
the checkpoint has the size of a real run's; each case runs in a fresh process.
"""

import glob
import os
import tempfile
import time

from common import measure_cases, parse_case_arguments


def run_case(case: str) -> dict:
    import tensorflow_setup  # noqa: F401, I001  (before TensorFlow is imported)

    import applications
    from applications import ModelSettings
    from callbacks import Progress, RunState

    backbone_model_name, size = case.split(":")
    image_height, image_width = (int(value) for value in size.split("x"))
    training_model, _ = applications.init_model(
        ModelSettings(
            backbone_model_name=backbone_model_name,
            image_height=image_height,
            image_width=image_width,
            use_horizontal_flipping_inside_model=True,
        ),
        class_num=751,
        use_pretrained_backbone=False,
    )
    applications.compile_training_model(training_model)
    with tempfile.TemporaryDirectory() as folder_path:
        run_state = RunState(folder_path)
        progress = Progress(epoch=1, history=[{"epoch": 1, "loss": 1.0}])
        start = time.perf_counter()
        run_state.save(training_model, progress, steps_per_epoch=200)
        save_seconds = time.perf_counter() - start
        megabytes = (
            sum(
                os.path.getsize(path)
                for path in glob.glob(os.path.join(run_state.folder_path, "*"))
            )
            / 2**20
        )
        start = time.perf_counter()
        run_state.restore(training_model)
        restore_seconds = time.perf_counter() - start
    return {"save_seconds": save_seconds, "restore_seconds": restore_seconds, "mb": megabytes}


def main() -> None:
    arguments = parse_case_arguments(
        __doc__.splitlines()[0],
        default_cases="resnet50:384x128,resnet18:64x32",
        output_file_name="checkpoint.md",
        run_case=run_case,
    )
    table = measure_cases(
        __file__,
        arguments.cases.split(","),
        columns=[
            "backbone, input",
            "save (s)",
            "restore (s)",
            "checkpoint size (MB)",
            "peak memory (GB)",
        ],
        describe_case=lambda case: [case.replace(":", ", ")],
        format_result=lambda result: [
            f"{result['save_seconds']:.2f}",
            f"{result['restore_seconds']:.2f}",
            f"{result['mb']:.0f}",
            f"{result['peak_gb']:.2f}",
        ],
    )
    table.save(arguments.output)


if __name__ == "__main__":
    main()
