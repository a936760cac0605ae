"""ONNX Runtime against TensorFlow on the same CPU and images: images per second of feature
extraction (flip-averaged embeddings, as search.py gives them by default for a FlipReID model),
and the time from starting search.py to its first ranked list (a fresh process, no cache).

    python benchmarks/onnx_benchmark.py                 # writes benchmarks/results/onnx.md
    python benchmarks/onnx_benchmark.py --models resnet18:64x32 --image_num 256

Each model is built with untrained weights (speed does not depend on them), saved as
inference_model.h5 with its .json, and exported by export.py; the images are those of a
generated Market1501-layout test set.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

from common import REPOSITORY, RESULTS_FOLDER, MarkdownTable, write_untrained_inference_model

EXTRACTION = """
import sys, time, glob
sys.path.insert(0, {repository!r})
paths = sorted(glob.glob({images!r}))[:{image_num}]
runtime = {runtime!r}
if runtime == "onnx":
    from deployment.onnx_model import OnnxModel
    model = OnnxModel({onnx!r})
    extract = lambda: model.extract_features(paths, use_horizontal_flipping=True, workers=2)
else:
    import applications
    model = applications.load_inference_model({h5!r})
    extractor = applications.FeatureExtractor(model, use_horizontal_flipping=True, workers=2)
    extract = lambda: extractor(paths)
extract()  # warm-up: graph tracing, thread pools
start = time.perf_counter()
features = extract()
print(len(paths) / (time.perf_counter() - start))
"""


def build_model(folder: str, backbone: str, height: int, width: int) -> tuple[str, str]:
    """(inference_model.h5, model.onnx) of an untrained FlipReID model."""
    h5, onnx = f"{folder}/inference_model.h5", f"{folder}/model.onnx"
    write_untrained_inference_model(
        h5, backbone=backbone, height=height, width=width, distinct_weights=True
    )
    export = [sys.executable, "export.py", "--model_file_path", h5, "--output_path", onnx]
    subprocess.run(export, check=True, cwd=REPOSITORY, capture_output=True)
    return h5, onnx


def images_per_second(runtime: str, *, h5: str, onnx: str, images: str, image_num: int) -> float:
    script = EXTRACTION.format(
        repository=REPOSITORY, images=images, image_num=image_num, runtime=runtime, onnx=onnx, h5=h5
    )
    output = subprocess.run(
        [sys.executable, "-c", script], check=True, cwd=REPOSITORY, capture_output=True, text=True
    ).stdout
    return float(output.strip().splitlines()[-1])


def seconds_to_first_ranked_list(model_path: str, *, query: str, gallery: str, folder: str):
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "search.py",
            "--model_file_path",
            model_path,
            "--query_path",
            query,
            "--gallery_path",
            gallery,
            "--output_folder_path",
            folder,
        ],
        check=True,
        cwd=REPOSITORY,
        capture_output=True,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet18:64x32,resnet50:256x128")
    parser.add_argument("--image_num", type=int, default=512)
    parser.add_argument("--output", default=os.path.join(RESULTS_FOLDER, "onnx.md"))
    arguments = parser.parse_args()
    sys.path.insert(0, REPOSITORY)
    from datasets.synthetic import generate_synthetic_dataset
    from settings import SyntheticSettings

    table = MarkdownTable(
        [
            "model",
            "TensorFlow images/s",
            "ONNX Runtime images/s",
            "search.py to first ranked list, TensorFlow (s)",
            "same, ONNX Runtime (s)",
        ]
    )
    with tempfile.TemporaryDirectory() as scratch:
        root = generate_synthetic_dataset(
            scratch, SyntheticSettings(synthetic_test_identity_num=100)
        )
        market = os.path.join(root, "Market-1501-v15.09.15")
        gallery = os.path.join(market, "bounding_box_test")
        images = os.path.join(gallery, "*.jpg")
        for model in arguments.models.split(","):
            backbone, size = model.split(":")
            height, width = (int(value) for value in size.split("x"))
            folder = tempfile.mkdtemp(dir=scratch)
            h5, onnx = build_model(folder, backbone, height, width)
            rates = [
                images_per_second(
                    runtime, h5=h5, onnx=onnx, images=images, image_num=arguments.image_num
                )
                for runtime in ("tensorflow", "onnx")
            ]
            query = os.path.join(market, "query")
            times = [
                seconds_to_first_ranked_list(
                    path, query=query, gallery=gallery, folder=f"{folder}/{name}"
                )
                for name, path in (("tf", h5), ("onnx", onnx))
            ]
            table.add_row(
                [
                    f"{backbone} {height}x{width}",
                    *(f"{rate:.0f}" for rate in rates),
                    *(f"{t:.1f}" for t in times),
                ]
            )
    table.lines.insert(
        1,
        f"\n{arguments.image_num} images per extraction, flip-averaged (2 passes each), 2 "
        "decoding threads; the search ranks the generated test set's query against its gallery.",
    )
    table.save(arguments.output)


if __name__ == "__main__":
    main()
