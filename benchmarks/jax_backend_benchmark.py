"""Speed of the program on Keras' JAX backend beside its TensorFlow backend: the training step
and the flip-averaged feature extraction, each backend in a fresh process (Keras fixes its
backend at import), one after the other.

    python benchmarks/jax_backend_benchmark.py  # resnet18:64x32:4x4:16:1,resnet18:96x48:8x4:64,...

A case is backbone:HxW:PxK:batch[:rounds]: a training batch of P identities x K images with the
mirror inside the model (use_horizontal_flipping_inside_model), the default L2 factors and Adam, as
applications.compile_training_model compiles it (jax.jit on JAX, a tf.function on TensorFlow);
timed is train_on_batch on one fixed batch, and FeatureExtractor.embed (image and mirror, on
uint8 images as the evaluation feeds it) on `batch` images. Random weights (Keras draws them
otherwise on each backend; speed does not depend on their values). First the compile: the first
call of each; then, after one more call, the median over `rounds` (default 5) rounds of 3 calls.
"""

import os

from common import (
    MarkdownTable,
    measure_in_subprocess,
    parse_case_arguments,
    parse_step_case,
    time_step_and_extraction,
)

BACKENDS = ("tensorflow", "jax")
ROUNDS = 5


def parse_case(case: str) -> dict:
    return parse_step_case(case, default_rounds=ROUNDS)


def run_case(case: str) -> dict:
    import keras

    return {"backend": keras.backend.backend(), **time_step_and_extraction(**parse_case(case))}


def describe(case: str, kind: str) -> str:
    parameters = parse_case(case)
    height, width = parameters["image_size"]
    if kind == "step":
        images = f"{parameters['identity_num']}x{parameters['image_num_per_identity']} images"
    else:
        images = f"batch {parameters['extraction_batch']}"
    return f"{parameters['backbone']} {height}x{width}, {kind}, {images}"


def main() -> None:
    arguments = parse_case_arguments(
        __doc__,
        default_cases=("resnet18:64x32:4x4:16:1,resnet18:96x48:8x4:64,resnet50:384x128:4x4:16:2"),
        output_file_name="jax_backend_benchmark.md",
        run_case=run_case,
    )
    table = MarkdownTable(
        [
            "case",
            "TensorFlow, s per call",
            "JAX, s per call",
            "JAX / TensorFlow",
            "first call (compile), TensorFlow / JAX, s",
        ]
    )
    for case in arguments.cases.split(","):
        results = {}
        for backend in BACKENDS:
            os.environ["KERAS_BACKEND"] = backend  # the child process's
            results[backend] = measure_in_subprocess(os.path.abspath(__file__), case)
        for kind in ("step", "extraction"):
            failed = [backend for backend, result in results.items() if "error" in result]
            if failed:
                table.add_row([describe(case, kind), f"failed on {', '.join(failed)}", "", "", ""])
                continue
            tensorflow, jax = results["tensorflow"], results["jax"]
            table.add_row(
                [
                    describe(case, kind),
                    f"{tensorflow[kind]:.4f}",
                    f"{jax[kind]:.4f}",
                    f"{jax[kind] / tensorflow[kind]:.2f}",
                    f"{tensorflow[f'{kind}_first']:.1f} / {jax[f'{kind}_first']:.1f}",
                ]
            )
    table.save(arguments.output)


if __name__ == "__main__":
    main()
