"""Images per second of the full training input pipeline: sample P x K (16 x 4), read, decode,
resize to 384x128, augment, batch, as training uses it, on 1 or more cores.

    python benchmarks/pipeline_benchmark.py [--cases 1:1,1:2,2:2]

A case is cores:workers: the process is pinned to that many cores (os.sched_setaffinity, which
TensorFlow's thread pools follow) and the pipeline gets --workers workers. With the mirror made
inside the model, a GPU training at the rate of NVIDIA's mixed-precision ResNet-50 tables
consumes about 800 such images per second. Each case runs in a fresh process, on Market1501-sized
images (128x64 JPEG files) from the synthetic dataset.
"""

import os
import tempfile
import time

from common import measure_cases, parse_case_arguments

BATCH_NUM = 40


def run_case(case: str) -> dict:
    core_num, workers = (int(value) for value in case.split(":"))
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:core_num])
    import tensorflow_setup  # noqa: F401, I001  (before TensorFlow is imported)

    import image_augmentation
    from datasets import SyntheticSettings, load_accumulated_info_of_dataset
    from datasets.sampling import SamplingSettings
    from image_augmentation import AugmentationSettings

    with tempfile.TemporaryDirectory() as root_folder_path:
        train_df, _, _, encoders = load_accumulated_info_of_dataset(
            root_folder_path, "Synthetic", synthetic=SyntheticSettings()
        )
        dataset = image_augmentation.build_training_dataset(
            image_file_paths=train_df["image_file_path"],
            identity_labels=encoders["identity_ID"].transform(train_df["identity_ID"]),
            class_num=len(encoders["identity_ID"].classes_),
            output_names=["global_embedding", "global_probability"],
            sampling=SamplingSettings(16, 4),
            image_size=(384, 128),
            augmentation=AugmentationSettings(),
            workers=workers,
        )
        iterator = iter(dataset)
        for _ in range(5):  # warm up: threads, graph, caches
            next(iterator)
        start = time.perf_counter()
        for _ in range(BATCH_NUM):
            next(iterator)
        seconds = time.perf_counter() - start
    return {"images_per_second": BATCH_NUM * 64 / seconds}


def main() -> None:
    arguments = parse_case_arguments(
        __doc__.splitlines()[0],
        default_cases="1:1,1:2,2:1,2:2",
        output_file_name="pipeline.md",
        run_case=run_case,
    )
    table = measure_cases(
        __file__,
        arguments.cases.split(","),
        columns=["cores", "workers", "images per second", "peak memory (GB)"],
        describe_case=lambda case: case.split(":"),
        format_result=lambda result: [
            f"{result['images_per_second']:.0f}",
            f"{result['peak_gb']:.2f}",
        ],
    )
    table.save(arguments.output)


if __name__ == "__main__":
    main()
