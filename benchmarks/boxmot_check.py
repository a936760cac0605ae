"""Does BoxMOT compute this project's embeddings? Run in the tracking environment
(requirements-tracking.txt), with a model from export.py --layout tracker:

    python benchmarks/boxmot_check.py --model_file_path ./exported/tracker_model.onnx \
        --image_folder ./data/Synthetic_100x100_c6_128x64_seed0/Market-1501-v15.09.15/query

The images are pasted side by side into one frame and handed to BoxMOT's own ReID runtime as
detection boxes; BoxMOT crops, resizes and normalises them itself. The same images go through
deployment.OnnxModel (this project's reading, OpenCV as in training). Prints the largest
difference between the L2-normalised embeddings, then runs BoxMOT's BoT-SORT on the frame a few
times with that model; exits with status 1 when the difference is above the bound.
"""

import argparse
import os
import sys

import numpy as np

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPOSITORY)
BOUND = 1e-5  # of L2-normalised embeddings: float32 rounding of another order of operations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_file_path", required=True)
    parser.add_argument("--image_folder", required=True)
    parser.add_argument("--image_num", type=int, default=16)
    arguments = parser.parse_args()
    import cv2
    from boxmot import BotSort
    from boxmot.reid.core import ReID

    from datasets.image_files import read_image
    from deployment.onnx_model import OnnxModel

    names = sorted(os.listdir(arguments.image_folder))[: arguments.image_num]
    images = [cv2.imread(os.path.join(arguments.image_folder, name)) for name in names]
    height = max(image.shape[0] for image in images)
    frame = np.zeros((height, sum(image.shape[1] for image in images), 3), np.uint8)
    boxes, left = [], 0
    for image in images:
        frame[: image.shape[0], left : left + image.shape[1]] = image
        boxes.append([left, 0, left + image.shape[1], image.shape[0]])
        left += image.shape[1]
    boxmot = ReID(weights=arguments.model_file_path, device="cpu", half=False).model
    found = boxmot.get_features(np.array(boxes, np.float32), frame)

    model = OnnxModel(arguments.model_file_path)
    pixels = np.stack(
        [
            read_image(
                os.path.join(arguments.image_folder, name), model.image_height, model.image_width
            )
            for name in names
        ]
    )
    expected = model.embed(pixels)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    difference = float(np.abs(found - expected).max())
    print(
        f"{len(names)} crops: largest difference between BoxMOT's embeddings and ours "
        f"{difference:.2e} (bound {BOUND:.0e})"
    )

    tracker = BotSort(reid_weights=arguments.model_file_path, device="cpu", half=False)
    detections = np.array([[*box, 0.9, 0] for box in boxes], np.float32)
    for _ in range(3):
        tracks = tracker.update(detections, frame)
    print(f"BoT-SORT with this model: {len(tracks)} tracks after 3 frames of {len(boxes)} people")
    sys.exit(0 if difference <= BOUND else 1)


if __name__ == "__main__":
    main()
