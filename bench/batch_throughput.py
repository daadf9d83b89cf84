"""Batch prediction throughput: a ZIP of JPEGs through the batch job, against its baselines in one run.

Sets up a throw-away platform with the ready-made ImageNet models (see predict_latency.py), builds a
ZIP of N 224×224 JPEG photos (crops of scikit-image's sample photos) and times, round by round:
  seed          — the tutorials' way, as the seed code does it: decode each JPEG, model.predict per image
  keras batch   — Keras done competently: model.predict(images, batch_size=32) on already-decoded pixels
  keras e2e     — the same from the JPEGs: a tf.data pipeline decoding in parallel, batched, prefetched
  raw serving   — the TFLite interpreter alone on decoded pixels, as serving configures it (one
                  interpreter, default threads, batches of 32)
  raw per-core  — the same file in one one-thread interpreter per core, batches side by side
  job           — Sightline's batch job as the inference worker runs it (run_job: read the ZIP, check and
                  decode each image, TFLite, write the CSV)
The interpreter rows use the file the version serves (float or int8, printed). The ceiling is the
faster interpreter row: the job decodes on the same cores, so it can only approach it.
Targets: job ≥ 0.9 × the interpreter's ceiling and ≥ 2 × keras (batched and end to end).

    .venv/bin/python bench/batch_throughput.py [--images 500] [--rounds 5] [--var-dir DIR]
"""

import argparse
import functools
import io
import statistics
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import tensorflow as tf

    from classifier.ml.predictor import TFLitePredictor

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.serving_platform import setup_platform  # noqa: E402

BATCH = 32
SEED_SAMPLE = 50  # the per-image row is slow; a sample gives its rate


def photo_jpegs(count: int, seed: int = 0) -> list[bytes]:
    from PIL import Image
    from skimage import data

    photos = [data.chelsea(), data.astronaut(), data.coffee(), data.rocket(), data.immunohistochemistry()]  # type: ignore[no-untyped-call]  # scikit-image leaves them unannotated
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


def keras_pipeline(jpegs: list[bytes], decode: Callable[[bytes], np.ndarray]) -> "tf.data.Dataset":
    """The competent Keras input pipeline: JPEGs decoded in parallel (Sightline's own decoder, so the
    pixels match), batched and prefetched so decoding overlaps model.predict."""
    import tensorflow as tf

    sample = decode(jpegs[0])
    images = tf.data.Dataset.from_tensor_slices(jpegs).map(
        lambda content: tf.ensure_shape(tf.numpy_function(decode, [content], tf.uint8), sample.shape),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return images.map(lambda pixels: tf.cast(pixels, tf.float32)).batch(BATCH).prefetch(tf.data.AUTOTUNE)


def per_core_predict(replicas: list["TFLitePredictor"], pixels: np.ndarray) -> None:
    """The interpreter's best on this machine: batches of BATCH spread over one interpreter per core."""
    batches = [pixels[start : start + BATCH] for start in range(0, len(pixels), BATCH)]
    with ThreadPoolExecutor(len(replicas)) as pool:
        list(pool.map(lambda index: replicas[index % len(replicas)].predict(batches[index]), range(len(batches))))


def timed(name: str, count: int, work: Callable[[], object]) -> None:
    """Record the row's images per second, and its CPU milliseconds per image (all threads): on a
    shared machine the wall clock swings with the neighbours' load, the CPU cost much less."""
    started, cpu_started = time.perf_counter(), time.process_time()
    work()
    rates[name].append(count / (time.perf_counter() - started))
    cpu_ms[name].append((time.process_time() - cpu_started) * 1000 / count)


ROWS = ("seed", "keras batch", "keras e2e", "raw serving", "raw per-core", "job")
rates: dict[str, list[float]] = {name: [] for name in ROWS}
cpu_ms: dict[str, list[float]] = {name: [] for name in ROWS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
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
    from classifier.services.batch_predictions import batch_cores, batch_prediction_start
    from classifier.services.quantization import version_model_file
    from classifier.services.serving import version_input_resize
    from classifier.services.storage import stored_file_name
    from training_jobs.models import Job
    from training_jobs.services import jobs_cancel
    from training_jobs.tasks import run_job

    size, resize = lite0.image_size, version_input_resize(version=lite0)

    def decode(content: bytes) -> np.ndarray:
        return load_array(bytes(content), size, resize)

    jpegs = photo_jpegs(arguments.images)
    archive = zip_of(jpegs)
    owner = User.objects.get(username="bench")
    # A reused --var-dir may hold a job an interrupted run left going; it would count against the quota.
    jobs_cancel(jobs=Job.objects.filter(requested_by=owner))
    model_file, model_kind = version_model_file(version=lite0)
    with default_storage.open(stored_file_name(model_file), "rb") as file:
        raw = TFLitePredictor(file.read())
    cores = batch_cores()
    replicas = [raw.replica(num_threads=1) for _ in range(cores)]
    pixels = np.stack([decode(content) for content in jpegs])
    keras_model = load_keras(default_storage.path(stored_file_name(lite0.keras_file)))
    # Warm-up: Keras traces its predict function once per batch shape (full and last) and per input kind.
    keras_model.predict(pixels.astype("float32"), batch_size=BATCH, verbose=0)
    keras_model.predict(keras_pipeline(jpegs, decode), verbose=0)

    def seed_style() -> None:
        for content in jpegs[:SEED_SAMPLE]:
            keras_model.predict(decode(content)[np.newaxis].astype("float32"), verbose=0)

    def serving_interpreter() -> None:
        for start in range(0, len(pixels), BATCH):
            raw.predict(pixels[start : start + BATCH])

    for _ in range(arguments.rounds):
        timed("seed", SEED_SAMPLE, seed_style)
        timed(
            "keras batch",
            len(pixels),
            lambda: keras_model.predict(pixels.astype("float32"), batch_size=BATCH, verbose=0),
        )
        timed("keras e2e", len(jpegs), lambda: keras_model.predict(keras_pipeline(jpegs, decode), verbose=0))
        timed("raw serving", len(pixels), serving_interpreter)
        timed("raw per-core", len(pixels), lambda: per_core_predict(replicas, pixels))
        job = batch_prediction_start(
            owner=owner, model_version=lite0, archive=SimpleUploadedFile("photos.zip", archive, "application/zip")
        )
        # The task body, as the inference worker runs it.
        timed("job", len(jpegs), functools.partial(run_job, job.id))
        job.refresh_from_db()
        assert job.status == Job.Status.SUCCEEDED and job.report["predicted"] == len(jpegs), job.error

    median = {name: statistics.median(values) for name, values in rates.items()}
    print(
        f"\n{len(jpegs)} JPEGs at {size}px ({resize}), EfficientNet-Lite0, {model_kind} TFLite file "
        f"{model_file.name}, {cores} interpreter core(s), {arguments.rounds} rounds (median)"
    )
    for name in ROWS:
        print(
            f"{name:<13}{median[name]:>8.1f} images/s  {statistics.median(cpu_ms[name]):>6.2f} CPU ms/image"
            f"   (rounds: {', '.join(f'{value:.0f}' for value in rates[name])})"
        )
    # Ratios three ways: of the medians; paired round by round (each round's rows ran back to back, so a
    # neighbour's load drifting between rounds cancels out); and of CPU cost, what the ratio is on a
    # machine whose cores the job has to itself.
    ceiling = "raw per-core" if median["raw per-core"] >= median["raw serving"] else "raw serving"
    print(f"\njob against{'medians':>23}{'paired (median)':>17}{'CPU cost':>10}   target")
    baselines = {ceiling: "≥ 0.9", "raw serving": "", "keras batch": "≥ 2", "keras e2e": "≥ 2", "seed": ""}
    for baseline, target in baselines.items():
        paired = statistics.median(ours / theirs for ours, theirs in zip(rates["job"], rates[baseline], strict=True))
        cost = statistics.median(cpu_ms[baseline]) / statistics.median(cpu_ms["job"])
        label = f"{baseline} (ceiling)" if baseline == ceiling else baseline
        print(f"  {label:<24}{median['job'] / median[baseline]:>8.2f}{paired:>17.2f}{cost:>10.2f}   {target}")


if __name__ == "__main__":
    main()
