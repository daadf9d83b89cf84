"""Batch prediction throughput: a ZIP of JPEGs through the batch job, against baselines in one run.

Sets up a throw-away platform with the ready-made ImageNet models (see predict_latency.py), builds a
ZIP of N 224×224 JPEG photos (crops of scikit-image's sample photos), and times:
  job   — the batch-prediction job's work as the gpu worker runs it (read ZIP, check and decode each
          image, TFLite in batches, write the CSV), images per second
  raw   — the TFLite interpreter alone on already-decoded pixels (the ceiling)
  keras — the tutorials' way: decode each JPEG and call the Keras model.predict per image
Target: job ≥ 100 images/s for EfficientNet-Lite0 at 224 on this 2-core machine.

    .venv/bin/python bench/batch_throughput.py [--images 500] [--var-dir DIR] [--rounds 3]
"""

import argparse
import io
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.predict_latency import setup_platform  # noqa: E402


def photo_jpegs(count: int, seed: int = 0) -> list[bytes]:
    from PIL import Image
    from skimage import data

    photos = [data.chelsea(), data.astronaut(), data.coffee(), data.rocket(), data.immunohistochemistry()]
    rng = np.random.default_rng(seed)
    jpegs = []
    for index in range(count):
        photo = photos[index % len(photos)]
        side = int(rng.integers(min(photo.shape[:2]) // 2, min(photo.shape[:2])))
        top = int(rng.integers(0, photo.shape[0] - side + 1))
        left = int(rng.integers(0, photo.shape[1] - side + 1))
        crop = Image.fromarray(photo[top : top + side, left : left + side]).resize((224, 224))
        buffer = io.BytesIO()
        crop.save(buffer, format="JPEG", quality=90)
        jpegs.append(buffer.getvalue())
    return jpegs


def zip_of(jpegs: list[bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index, content in enumerate(jpegs):
            archive.writestr(f"photos/{index:05d}.jpg", content)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--var-dir")
    arguments = parser.parse_args()
    _token, versions, _env = setup_platform(arguments.var_dir or tempfile.mkdtemp(prefix="sightline-bench-"))
    lite0 = versions[0]

    from django.contrib.auth.models import User
    from django.core.files.storage import default_storage
    from django.core.files.uploadedfile import SimpleUploadedFile

    from classifier.ml.export import load_keras
    from classifier.ml.images import load_array
    from classifier.ml.predictor import TFLitePredictor
    from classifier.services.batch_predictions import batch_prediction_start
    from training_jobs.models import Job
    from training_jobs.tasks import run_job

    jpegs = photo_jpegs(arguments.images)
    archive = zip_of(jpegs)
    owner = User.objects.get(username="bench")
    with default_storage.open(lite0.tflite_file.name, "rb") as file:
        raw = TFLitePredictor(file.read())
    pixels = np.stack([load_array(content, lite0.image_size) for content in jpegs])
    keras_model = load_keras(default_storage.path(lite0.keras_file.name))
    keras_model.predict(pixels[:1].astype("float32"), verbose=0)

    rates: dict[str, list[float]] = {"job": [], "raw": [], "keras": []}
    keras_sample = jpegs[:50]
    for _ in range(arguments.rounds):
        job = batch_prediction_start(
            owner=owner, model_version=lite0, archive=SimpleUploadedFile("photos.zip", archive, "application/zip")
        )
        started = time.perf_counter()
        run_job(job.id)  # the task body, as the gpu worker runs it
        rates["job"].append(arguments.images / (time.perf_counter() - started))
        job.refresh_from_db()
        assert job.status == Job.Status.SUCCEEDED and job.report["predicted"] == arguments.images, job.error

        started = time.perf_counter()
        raw.predict(pixels)
        rates["raw"].append(arguments.images / (time.perf_counter() - started))

        started = time.perf_counter()
        for content in keras_sample:
            keras_model.predict(load_array(content, lite0.image_size)[np.newaxis].astype("float32"), verbose=0)
        rates["keras"].append(len(keras_sample) / (time.perf_counter() - started))

    print(f"\n{arguments.images} JPEGs at {lite0.image_size}px, EfficientNet-Lite0, {arguments.rounds} rounds (median)")
    for name, values in rates.items():
        print(
            f"{name:<6}{statistics.median(values):>10.1f} images/s   (rounds: {', '.join(f'{v:.0f}' for v in values)})"
        )
    job_rate = statistics.median(rates["job"])
    print(f"\njob / raw interpreter = {job_rate / statistics.median(rates['raw']):.2f}")
    print(f"job / keras per image = {job_rate / statistics.median(rates['keras']):.1f}x")
    print(f"job rate {job_rate:.0f} images/s (target ≥ 100)")


if __name__ == "__main__":
    main()
