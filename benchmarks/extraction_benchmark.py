"""Feature extraction, TensorFlow against ONNX Runtime, on the same CPU, network and images:
images per second of the whole extraction from files (reading, decoding, resizing, the network)
and of the network's forward pass alone on images already in memory.

    python benchmarks/extraction_benchmark.py      # writes benchmarks/results/extraction.md
    python benchmarks/extraction_benchmark.py --cases resnet18:64x32:flip

Rows, per model and with flip averaging on ("flip": image and mirror, FlipReID's test
embedding) or off:
- TF, two passes: the extractor before 2026-12-05 (the mirror's batch after the image's);
- TF, extractor: applications.FeatureExtractor (image and mirror as one batch);
- TF, forward alone: the Keras model in a tf.function on in-memory batches (the bound the
  extractor can reach);
- ONNX Runtime, extractor: deployment.OnnxModel (export.py's model, the mirror inside it);
- ONNX Runtime, forward alone: the same model on in-memory batches.
Each is measured in a fresh process (TensorFlow's and ONNX Runtime's thread pools never share a
process), the best of three runs after a warm-up batch, with untrained weights (speed does not
depend on them).
"""

import os
import sys
import tempfile
import time

from common import (
    REPOSITORY,
    MarkdownTable,
    measure_in_subprocess,
    parse_case_arguments,
    write_untrained_inference_model,
)

RUNTIMES = ("tf_two_passes", "tf_extractor", "tf_forward", "onnx_extractor", "onnx_forward")
RUNTIME_NAMES = {
    "tf_two_passes": "TF, two passes (before)",
    "tf_extractor": "TF, extractor",
    "tf_forward": "TF, forward alone",
    "onnx_extractor": "ONNX Runtime, extractor",
    "onnx_forward": "ONNX Runtime, forward alone",
}
DEFAULT_CASES = (
    "resnet18:64x32:flip,resnet18:64x32:noflip,resnet50:384x128:flip,resnet50:384x128:noflip"
)
BATCH_SIZE = 64  # FeatureExtractor's and OnnxModel's default
SCRATCH = os.environ.get("EXTRACTION_BENCHMARK_FOLDER", "")


def image_num(backbone: str) -> int:
    return 512 if backbone == "resnet18" else 128


def model_files(backbone: str, height: int, width: int, *, flipping: bool) -> tuple[str, str]:
    """(inference_model.h5, model.onnx) of an untrained FlipReID model, made once per scratch
    folder (the ONNX model averages the mirror inside when flipping)."""
    import subprocess

    folder = os.path.join(SCRATCH, f"{backbone}_{height}x{width}")
    h5 = os.path.join(folder, "inference_model.h5")
    if not os.path.isfile(h5):
        os.makedirs(folder, exist_ok=True)
        write_untrained_inference_model(
            h5, backbone=backbone, height=height, width=width, distinct_weights=True
        )
    onnx = os.path.join(folder, f"model_{'flip' if flipping else 'noflip'}.onnx")
    if not os.path.isfile(onnx):
        command = [sys.executable, "export.py", "--model_file_path", h5, "--output_path", onnx]
        command.append(
            "--use_horizontal_flipping_in_evaluation"
            if flipping
            else "--nouse_horizontal_flipping_in_evaluation"
        )
        subprocess.run(command, check=True, cwd=REPOSITORY, capture_output=True)
    return h5, onnx


def image_paths(number: int) -> list[str]:
    from datasets.synthetic import generate_synthetic_dataset
    from settings import SyntheticSettings

    root = generate_synthetic_dataset(
        os.path.join(SCRATCH, "data"), SyntheticSettings(synthetic_test_identity_num=100)
    )
    folder = os.path.join(root, "Market-1501-v15.09.15", "bounding_box_test")
    return sorted(os.path.join(folder, name) for name in os.listdir(folder))[:number]


def rate(run, items: int, repeats: int = 3) -> float:
    """items per second of run(), the best of `repeats` timed calls after one warm-up call
    (graph tracing, thread pools): the best, since a shared machine only ever slows a run."""
    run(warm_up=True)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(warm_up=False)
        seconds.append(time.perf_counter() - start)
    return items / min(seconds)


def run_case(case: str) -> dict:
    """One runtime of one model: {"images_per_second": ...}."""
    backbone, size, flip, runtime = case.split(":")
    height, width = (int(value) for value in size.split("x"))
    flipping = flip == "flip"
    h5, onnx = model_files(backbone, height, width, flipping=flipping)
    paths = image_paths(image_num(backbone))
    import numpy as np

    from datasets.image_files import read_image

    images = np.stack([read_image(path, height, width) for path in paths])
    batches = [images[i : i + BATCH_SIZE] for i in range(0, len(images), BATCH_SIZE)]
    if runtime.startswith("onnx"):
        from deployment.onnx_model import OnnxModel

        model = OnnxModel(onnx)

        def run(warm_up):
            if runtime == "onnx_extractor":
                model.extract_features(
                    paths[:BATCH_SIZE] if warm_up else paths,
                    use_horizontal_flipping=flipping,
                    workers=2,
                )
            else:
                for batch in batches[:1] if warm_up else batches:
                    model.embed(batch)

        return {"images_per_second": rate(run, len(paths))}
    import applications  # noqa: I001  (selects Keras 2 before TensorFlow is imported)
    import tensorflow as tf

    model = applications.load_inference_model(h5)
    extractor = applications.FeatureExtractor(model, use_horizontal_flipping=flipping, workers=2)
    if runtime == "tf_two_passes":

        def two_passes(batch):  # the extractor's graph before 2026-12-05
            features = tf.concat(model(batch, training=False), axis=-1)
            if flipping:
                mirrored = tf.concat(model(tf.reverse(batch, axis=[2]), training=False), axis=-1)
                features = (features + mirrored) / 2.0
            return features

        extractor.embed = tf.function(two_passes)
    if runtime == "tf_forward":

        def run(warm_up):
            for batch in batches[:1] if warm_up else batches:
                extractor.embed(tf.constant(batch)).numpy()
    else:

        def run(warm_up):
            extractor(paths[:BATCH_SIZE] if warm_up else paths)

    return {"images_per_second": rate(run, len(paths))}


def main() -> None:
    global SCRATCH
    arguments = parse_case_arguments(
        __doc__.splitlines()[0],
        default_cases=DEFAULT_CASES,
        output_file_name="extraction.md",
        run_case=run_case,
    )
    table = MarkdownTable(
        ["model", "flip averaging", *RUNTIME_NAMES.values(), "ONNX / TF extractor"]
    )
    with tempfile.TemporaryDirectory() as scratch:
        SCRATCH = os.environ["EXTRACTION_BENCHMARK_FOLDER"] = scratch
        for case in arguments.cases.split(","):
            backbone, size, flip = case.split(":")
            rates = {}
            for runtime in RUNTIMES:
                result = measure_in_subprocess(__file__, f"{case}:{runtime}")
                rates[runtime] = result.get("images_per_second", float("nan"))
            table.add_row(
                [
                    f"{backbone} {size} ({image_num(backbone)} images)",
                    "on" if flip == "flip" else "off",
                    *(f"{rates[runtime]:.1f}" for runtime in RUNTIMES),
                    f"{rates['onnx_extractor'] / rates['tf_extractor']:.2f}x",
                ]
            )
    table.lines.insert(
        1,
        f"\nImages per second, batches of {BATCH_SIZE}, 2 decoding threads; each figure the best "
        "of three runs in a fresh process after a warm-up batch.",
    )
    table.save(arguments.output)


if __name__ == "__main__":
    main()
