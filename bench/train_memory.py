"""Peak memory of a Standard training as the dataset grows: it must stay flat beyond bounded caches.

Trains `classifier.ml.training.train` with the Standard plan's settings for 28 px pictures
(EfficientNet-Lite0 at 96 px, two views, the top half fine-tuned) on generated images, decoded one
batch at a time from their loaders as the platform's are from storage, and samples the process's
resident memory every 0.2 s. Fine-tuning is cut to one epoch: memory is what is measured here.
Prints the peak resident memory (and its allocated part, without mapped libraries and feature files)
and the scratch files' size for each image count.

    .venv/bin/python bench/train_memory.py [--counts 6000,50000]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from classifier.ml.config import TrainingConfig  # noqa: E402
from classifier.ml.features import DirectoryFeatureCache  # noqa: E402
from classifier.ml.training import ImageRecord, train  # noqa: E402

CLASSES = [str(index) for index in range(10)]


def resident_bytes(field: str = "VmRSS") -> int:
    """The process's resident memory: all of it (VmRSS), or its anonymous part (RssAnon: what it
    allocated). The rest (RssFile) is mapped files: TensorFlow's libraries, and pages of the
    memory-mapped feature files, which the kernel drops under pressure and reads again."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    return 0


class Sampler:
    def __init__(self) -> None:
        self.peak = 0
        self.anonymous_peak = 0
        self.scratch_peak = 0
        self.scratch: Path | None = None
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, resident_bytes())
            self.anonymous_peak = max(self.anonymous_peak, resident_bytes("RssAnon"))
            if self.scratch is not None:
                size = sum(path.stat().st_size for path in self.scratch.glob("*/*.npy") if path.is_file())
                self.scratch_peak = max(self.scratch_peak, size)

    def stop(self) -> None:
        self._stop.set()


def records(count: int, seed: int) -> tuple[list[ImageRecord], np.ndarray]:
    """Generated 28 px greyscale pictures: a class-dependent blob position and stripes, plus noise."""
    labels = np.arange(count) % len(CLASSES)

    def loader(index: int, label: int) -> Callable[[], np.ndarray]:
        def load() -> np.ndarray:
            rng = np.random.default_rng(seed * 1_000_003 + index)
            y, x = np.mgrid[:28, :28]
            cy, cx = 6 + 2 * (label % 5) + rng.integers(-2, 3), 8 + 3 * (label // 5) + rng.integers(-2, 3)
            image = 160 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 30) + 40 * np.sin(x * (label + 1) / 4)
            image = np.clip(image + rng.normal(0, 20, image.shape), 0, 255).astype(np.uint8)
            return np.repeat(image[..., None], 3, axis=-1)

        return load

    made = [
        ImageRecord(hashlib.sha256(f"{seed}:{index}".encode()).hexdigest(), loader(index, int(label)))
        for index, label in enumerate(labels)
    ]
    return made, labels


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", default="6000,50000")
    arguments = parser.parse_args()
    config = TrainingConfig(
        backbone="efficientnet_lite0", image_size=96, batch_size=64, epochs=3, fine_tune_fraction=0.5,
        fine_tune_epochs=1, label_smoothing=0.1, augment_views=2,
    )
    print(f"resident before training: {resident_bytes() / 2**30:.2f} GiB")
    for count in (int(value) for value in arguments.counts.split(",")):
        train_images, train_labels = records(count, seed=0)
        val_images, val_labels = records(max(100, count // 8), seed=1)
        sampler = Sampler()
        with tempfile.TemporaryDirectory() as scratch:
            sampler.scratch = Path(scratch)
            thread = threading.Thread(target=sampler.run, daemon=True)
            thread.start()
            started = time.perf_counter()
            # A feature cache on disk, as the worker keeps one.
            cache = DirectoryFeatureCache(Path(scratch) / "cache")
            result = train(
                config, train_images, train_labels, val_images, val_labels, CLASSES, feature_cache=cache,
                scratch_dir=scratch,
            )
            sampler.stop()
            thread.join()
        print(
            f"{count:>6} training images: peak resident {sampler.peak / 2**30:.2f} GiB, of it allocated "
            f"{sampler.anonymous_peak / 2**30:.2f} GiB (the rest: mapped libraries and feature files), scratch files "
            f"{sampler.scratch_peak / 2**30:.2f} GiB, {time.perf_counter() - started:.0f} s, "
            f"val accuracy {result.history[-1]['val_accuracy']:.3f}"
        )


if __name__ == "__main__":
    main()
