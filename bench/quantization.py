"""Float vs int8 TFLite models in LiteRT, the way the web tier runs them: speed and what int8 costs in answers.

For each ready ImageNet model (EfficientNet-Lite0/1/2, published weights) it exports the float file and the
int8 file exactly as the installer does (int8 calibrated on crops of the offline sample photos), then prints
  the interpreter's median ms/image for each (one image per call, interleaved runs so both see the same
  machine load) and the speed ratio float/int8 (the issue's target: ≥ 1.7×);
  top-1 on the labelled sample photos of bench/imagenet_models.py (with opencv-doc's when found) and the
  share of photos on which both models give the same top-1.
With --lfw it also trains a small face / not-face classifier (scikit-image's LFW subset, EfficientNet-Lite0
head on frozen features, directly with classifier.ml.training) and prints both models' test accuracy.

    .venv/bin/python bench/quantization.py [--variants lite0] [--threads 1] [--runs 60] [--lfw]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from bench.imagenet_models import OPENCV_DATA, photos  # noqa: E402
from classifier.ml import efficientnet_lite, export, quantize, sample_photos  # noqa: E402
from classifier.ml.images import CENTER_CROP, STRETCH, load_array  # noqa: E402
from classifier.ml.predictor import TFLitePredictor  # noqa: E402

if TYPE_CHECKING:
    import keras

TARGET_RATIO = 1.7


def _constant(image: np.ndarray) -> Callable[[], np.ndarray]:
    return lambda: image


def exported(model: keras.Model, size: int, calibration: np.ndarray, folder: Path) -> tuple[bytes, bytes, float]:
    served = export.serving_model(model)
    export.export_tflite(served, folder / "float.tflite")
    started = time.perf_counter()
    quantize.export_tflite_int8(served, folder / "int8.tflite", calibration)
    seconds = time.perf_counter() - started
    return (folder / "float.tflite").read_bytes(), (folder / "int8.tflite").read_bytes(), seconds


def speed(contents: dict[str, bytes], pixels: np.ndarray, threads: int, runs: int) -> dict[str, float]:
    """Median ms/image per model, the runs interleaved so a busy machine slows both alike."""
    predictors = {name: TFLitePredictor(content, num_threads=threads) for name, content in contents.items()}
    for predictor in predictors.values():
        for image in pixels[:5]:
            predictor.predict(image)
    seconds: dict[str, list[float]] = {name: [] for name in predictors}
    for run in range(runs):
        image = pixels[run % len(pixels)]
        for name, predictor in predictors.items():
            started = time.perf_counter()
            predictor.predict(image)
            seconds[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) * 1000 for name, values in seconds.items()}


def imagenet(variants: list[str], threads: int, runs: int, opencv_data: Path) -> None:
    from classifier.ml.backbones import build_efficientnet_lite_classifier

    labelled = photos(opencv_data)
    print(f"{len(labelled)} labelled photos; LiteRT with {threads} thread(s), {runs} interleaved runs.\n")
    for variant in variants:
        model = build_efficientnet_lite_classifier(variant)
        size = model.input_shape[1]
        calibration = sample_photos.calibration_photos(size)
        with tempfile.TemporaryDirectory() as scratch:
            float_content, int8_content, seconds = exported(model, size, calibration, Path(scratch))
        pixels = np.stack([load_array(data, size, CENTER_CROP) for _name, data, _right in labelled])
        timing = speed({"float": float_content, "int8": int8_content}, pixels, threads, runs)
        ratio = timing["float"] / timing["int8"]
        compared = quantize.float_int8_comparison(
            float_content, int8_content, pixels, [right for *_, right in labelled]
        )
        label = f"EfficientNet-Lite{variant[-1]} ({size} px)"
        print(f"{label}, int8 calibrated on {len(calibration)} crops in {seconds:.0f} s")
        print(
            f"  float {timing['float']:.2f} ms/image, {len(float_content) / 1e6:.1f} MB;  "
            f"int8 {timing['int8']:.2f} ms/image, {len(int8_content) / 1e6:.1f} MB;  "
            f"speed-up {ratio:.2f}× (target ≥ {TARGET_RATIO}×: {'met' if ratio >= TARGET_RATIO else 'missed'})"
        )
        print(
            f"  top-1 on {compared['test_images']} photos: float {compared['accuracy']:.1%}, "
            f"int8 {compared['accuracy_int8']:.1%};  top-1 agreement {compared['agreement']:.1%}\n"
        )


def lfw(threads: int, runs: int) -> None:
    """Face / not-face, 25 px greyscale crops upscaled: a real dataset that trains in about a minute."""
    from skimage import data

    from classifier.ml import training
    from classifier.ml.config import TrainingConfig

    faces = (data.lfw_subset() * 255).astype(np.uint8)  # type: ignore[no-untyped-call]  # scikit-image leaves it unannotated
    images = [np.repeat(face[:, :, None], 3, axis=2) for face in faces]
    labels = np.array([0] * 100 + [1] * 100)
    # Per class, shuffled once: 60% train, 15% validation, 25% test.
    splits = np.empty(len(labels), dtype=object)
    for label in (0, 1):
        members = np.random.default_rng(label).permutation(np.flatnonzero(labels == label))
        splits[members[:60]], splits[members[60:75]], splits[members[75:]] = "train", "val", "test"
    config = TrainingConfig(backbone="efficientnet_lite0", epochs=15, fine_tune_layers=0, batch_size=16)

    def records(split: str) -> tuple[list[training.ImageRecord], np.ndarray]:
        chosen = [index for index, name in enumerate(splits) if name == split]
        return [
            training.ImageRecord(sha256=f"lfw-{index}", load=_constant(images[index])) for index in chosen
        ], labels[chosen]

    (train_x, train_y), (val_x, val_y), (test_x, test_y) = (records(name) for name in ("train", "val", "test"))
    started = time.perf_counter()
    result = training.train(config, train_x, train_y, val_x, val_y, ["face", "not_face"])
    size = result.image_size
    print(f"LFW face / not-face: trained on {len(train_x)} images in {time.perf_counter() - started:.0f} s")
    train_pixels = np.stack([load_array(_png(record.load()), size, STRETCH) for record in train_x])
    test_pixels = np.stack([load_array(_png(record.load()), size, STRETCH) for record in test_x])
    with tempfile.TemporaryDirectory() as scratch:
        float_content, int8_content, _ = exported(result.model, size, train_pixels, Path(scratch))
    timing = speed({"float": float_content, "int8": int8_content}, test_pixels, threads, runs)
    compared = quantize.float_int8_comparison(float_content, int8_content, test_pixels, [{y} for y in test_y])
    print(
        f"  {len(test_x)} test images: float {compared['accuracy']:.1%}, int8 {compared['accuracy_int8']:.1%} "
        f"(drop {100 * (compared['accuracy'] - compared['accuracy_int8']):.1f} points), agreement "
        f"{compared['agreement']:.1%};  float {timing['float']:.2f} ms, int8 {timing['int8']:.2f} ms, "
        f"{timing['float'] / timing['int8']:.2f}×"
    )


def _png(pixels: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=list(efficientnet_lite.VARIANTS))
    parser.add_argument("--threads", type=int, default=1, help="LiteRT threads per interpreter (web tier: 1)")
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--opencv-data", type=Path, default=OPENCV_DATA)
    parser.add_argument("--lfw", action="store_true", help="also train and compare on the LFW subset")
    arguments = parser.parse_args()
    imagenet(arguments.variants, arguments.threads, arguments.runs, arguments.opencv_data)
    if arguments.lfw:
        lfw(arguments.threads, arguments.runs)


if __name__ == "__main__":
    main()
