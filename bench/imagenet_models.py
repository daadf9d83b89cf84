"""The ready ImageNet models (EfficientNet-Lite0/1/2, published weights) on real photos: how a photo should
reach them, and the answer threshold that suits their 1000 classes.

In one run, for each model, on the same labelled photos:
  baseline  how every version was served before: the whole photo stretched to the square (bilinear),
            then (x - 127) / 128 inside the model;
  the alternatives: the same stretch with ImageNet mean/std normalisation, a centre crop with it, a
            bilinear centre crop, the central square with no margin;
  chosen    the weights' own evaluation (TensorFlow TPU models' preprocessing.py): the central 87.5% of
            the shorter side, bicubic, then (x - 127) / 128. This is what the platform now serves them with.
Each prints top-1 accuracy, the mean top-1 probability and the mean probability of the right classes (a
steadier figure than accuracy on few photos), with ratios to the baseline, and the median time to decode
and resize a photo. Then, for the chosen way, the answer threshold the rule gives (the lowest multiple of
0.05 above every wrong answer's top-1 probability, a photo of none of the classes included), next to the
one the installer stores, and how many photos get one answer at 50% and at that threshold.

Photos, all real and offline, with the ImageNet classes that count as right for each:
  scikit-image, scikit-learn and matplotlib's sample photos (requirements-dev.txt);
  Debian's opencv-doc sample photos when found (`apt-get install opencv-doc`, or `apt-get download
  opencv-doc && dpkg -x opencv-doc_*.deb DIR` and `--opencv-data DIR/usr/share/doc/opencv-doc/examples/data`).
Left out: images blurred or drawn on purpose (clock_motion, HappyFish), and ones no ImageNet class fits,
except the astronaut, kept as the photo of none of the classes.

    .venv/bin/python bench/imagenet_models.py [--opencv-data DIR]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from classifier.ml import efficientnet_lite, images  # noqa: E402
from classifier.ml.imagenet import ANSWER_THRESHOLDS, imagenet_class_names  # noqa: E402
from classifier.ml.sample_photos import labelled_photos  # noqa: E402

if TYPE_CHECKING:
    import keras

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
# Sample photo → the ImageNet class indices that count as a right top-1 answer (empty: no class fits);
# the Python packages' photos are listed in classifier.ml.sample_photos, which the installer uses too.
OPENCV = {
    "squirrel_cls.jpg": {335},  # fox squirrel
    "baboon.jpg": {372},  # a mandrill: ImageNet's nearest is baboon
    "orange.jpg": {950},
    "fruits.jpg": {950, 951},  # orange, lemon
    "butterfly.jpg": set(range(321, 327)),  # a swallowtail; ImageNet's butterflies
    "messi5.jpg": {805},  # soccer ball
    "chicky_512.png": {152, 154, 155, 200, 204, 252, 262},  # a small long-haired dog: the toy breeds
}
_MEAN, _STDDEV = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
STEP = 0.05


def photos(opencv_data: Path) -> list[tuple[str, bytes, set[int]]]:
    found = labelled_photos()
    if (opencv_data / next(iter(OPENCV))).is_file():
        found += [(name, (opencv_data / name).read_bytes(), right) for name, right in OPENCV.items()]
    else:
        print(f"opencv-doc's {len(OPENCV)} photos not found in {opencv_data}: the figures rest on fewer photos.")
    return found


def _imagenet_normalised(pixels: np.ndarray) -> np.ndarray:
    # Inputs that the model's own (x - 127) / 128 turns into ImageNet's mean/std normalisation.
    normalised: np.ndarray = ((pixels / 255.0 - _MEAN) / _STDDEV) * efficientnet_lite.PIXEL_STDDEV
    return normalised + efficientnet_lite.PIXEL_MEAN


def _crop(fraction: float, resample: Image.Resampling) -> Callable[[bytes, int], np.ndarray]:
    def prepare(data: bytes, size: int) -> np.ndarray:
        image = images.load_rgb(data)
        side = int(fraction * min(image.size))
        left, top = (image.width - side + 1) // 2, (image.height - side + 1) // 2
        return np.asarray(image.resize((size, size), resample, box=(left, top, left + side, top + side)))

    return prepare


def _served(resize: str) -> Callable[[bytes, int], np.ndarray]:
    return lambda data, size: images.load_array(data, size, resize)


BASELINE = "stretch, (x-127)/128 (before)"
CHOSEN = "centre crop 87.5% bicubic, (x-127)/128 (chosen)"
VARIANTS: dict[str, Callable[[bytes, int], np.ndarray]] = {
    BASELINE: _served(images.STRETCH),
    "stretch, ImageNet mean/std": lambda data, size: _imagenet_normalised(_served(images.STRETCH)(data, size)),
    "centre crop 87.5% bicubic, mean/std": lambda data, size: _imagenet_normalised(
        _served(images.CENTER_CROP)(data, size)
    ),
    "centre crop 87.5% bilinear": _crop(images.IMAGENET_CROP_FRACTION, Image.Resampling.BILINEAR),
    "centre square, no margin, bicubic": _crop(1.0, Image.Resampling.BICUBIC),
    CHOSEN: _served(images.CENTER_CROP),
}


def measure(
    model: keras.Model,
    size: int,
    prepare: Callable[[bytes, int], np.ndarray],
    labelled: list[tuple[str, bytes, set[int]]],
) -> dict[str, Any]:
    seconds, batch = [], []
    for _name, data, _right in labelled:
        started = time.perf_counter()
        batch.append(np.asarray(prepare(data, size), dtype=np.float32))
        seconds.append(time.perf_counter() - started)
    probabilities = model.predict(np.stack(batch), verbose=0)
    top = probabilities.argmax(axis=1)
    rows = [
        {
            "top1": float(row[best]),
            "right": best in right,
            "has_class": bool(right),
            "p_right": float(row[list(right)].sum()),
        }
        for row, best, (_name, _data, right) in zip(probabilities, top, labelled, strict=True)
    ]
    scored = [row for row in rows if row["has_class"]]
    return {
        "rows": rows,
        "top": top,
        "accuracy": sum(row["right"] for row in scored) / len(scored),
        "correct": sum(row["right"] for row in scored),
        "scored": len(scored),
        "mean_top1": statistics.fmean(row["top1"] for row in rows),
        "p_right": statistics.fmean(row["p_right"] for row in scored),
        "median_ms": statistics.median(seconds) * 1000,
    }


def threshold_rule(rows: list[dict[str, Any]]) -> float:
    """The lowest multiple of STEP above every wrong answer's top-1 probability."""
    worst = max((row["top1"] for row in rows if not row["right"]), default=0.0)
    return round(math.floor(worst / STEP + 1) * STEP, 2)


def committed(rows: list[dict[str, Any]], threshold: float) -> str:
    answered = [row for row in rows if row["top1"] >= threshold]
    return f"{len(answered)} of {len(rows)} photos get one answer, {sum(row['right'] for row in answered)} right"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--opencv-data", type=Path, default=OPENCV_DATA, help="opencv-doc's examples/data folder")
    arguments = parser.parse_args()
    from classifier.ml.backbones import build_efficientnet_lite_classifier

    labelled = photos(arguments.opencv_data)
    names = imagenet_class_names()
    print(f"{len(labelled)} photos, {sum(bool(right) for *_, right in labelled)} of an ImageNet class.\n")
    for variant in efficientnet_lite.VARIANTS:
        model = build_efficientnet_lite_classifier(variant)
        size = model.input_shape[1]
        results = {label: measure(model, size, prepare, labelled) for label, prepare in VARIANTS.items()}
        base = results[BASELINE]
        print(f"EfficientNet-Lite{variant[-1]} ({size} px)")
        for label, result in results.items():
            print(
                f"  {label:<48} top-1 {result['correct']:>2}/{result['scored']} ({100 * result['accuracy']:.0f}%, "
                f"{result['accuracy'] / base['accuracy']:.2f}×)  mean top-1 p {result['mean_top1']:.3f} "
                f"({result['mean_top1'] / base['mean_top1']:.2f}×)  p(right classes) {result['p_right']:.3f} "
                f"({result['p_right'] / base['p_right']:.2f}×)  median {result['median_ms']:.1f} ms/photo "
                f"({result['median_ms'] / base['median_ms']:.2f}×)"
            )
        chosen = results[CHOSEN]
        wrong = [
            f"{name} → {names[best]} {100 * row['top1']:.0f}%"
            for (name, _data, _right), best, row in zip(labelled, chosen["top"], chosen["rows"], strict=True)
            if not row["right"]
        ]
        measured, stored = threshold_rule(chosen["rows"]), ANSWER_THRESHOLDS[variant]
        print(f"  wrong (chosen): {'; '.join(wrong) or 'none'}")
        print(f"  answer threshold by the rule: {measured:.2f} (stored by the installer: {stored:.2f})")
        print(f"  at 0.50: {committed(chosen['rows'], 0.5)}; at {stored:.2f}: {committed(chosen['rows'], stored)}\n")


if __name__ == "__main__":
    main()
