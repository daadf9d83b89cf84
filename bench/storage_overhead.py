"""What object storage costs: an archive import and a training with every file in an S3 bucket against the
same on local files, in one run.

The S3 server is moto's standalone server (tests/storage_s3.py) as its own process on 127.0.0.1: a
LOOPBACK server, so this measures the protocol's and the client's overhead (HTTP requests, signing,
spooling reads), not a WAN's latency or bandwidth; a real bucket over a network adds round trips. The
images are generated 64x64 JPEGs (noise over a class colour, about 2.5 KB each) in 10 classes, zipped
once. Each way gets a fresh dataset and its own empty feature cache, on one throw-away SQLite database:
  local  FileSystemStorage under a temporary MEDIA_ROOT (the default)
  s3     S3Storage over HTTP (boto3, signature v4) on a fresh bucket, as SIGHTLINE_STORAGE=s3 sets it
The import is the import job (``dataset_import_start`` then the job runner, as a cpu worker runs it:
archive read from storage, every image checked, hashed, stored with its thumbnail). The training is the
training job on EfficientNet-Lite0 with the plan's defaults but ``--epochs`` head epochs and no
fine-tuning (a Standard training is ten minutes a way on two cores; ``--budget standard`` runs it).
Prints seconds per way (median of --repeats) and the s3/local ratios.

    .venv/bin/python bench/storage_overhead.py [--images 6000] [--epochs 5] [--budget ""] [--repeats 1]
                                               [--no-training]
"""

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from training_jobs.models import Job

CLASSES = 10


def generated_archive(count: int, seed: int = 0) -> bytes:
    """``count`` distinct 64x64 JPEGs in ``CLASSES`` class folders, zipped (stored, as photos are)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    colours = rng.integers(30, 226, size=(CLASSES, 3))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for index in range(count):
            label = index % CLASSES
            pixels = np.clip(colours[label] + rng.normal(0, 30, size=(64, 64, 3)), 0, 255).astype("uint8")
            image = io.BytesIO()
            Image.fromarray(pixels).save(image, format="JPEG", quality=85)
            archive.writestr(f"class{label}/{index}.jpg", image.getvalue())
    return buffer.getvalue()


def setup_django(var_dir: str) -> None:
    os.environ.update(
        {
            "SIGHTLINE_DEV": "1",
            "SIGHTLINE_VAR_DIR": var_dir,
            "DJANGO_SETTINGS_MODULE": "webapp.settings",
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "CUDA_VISIBLE_DEVICES": "",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def run_job_here(start: Callable[[], "Job"]) -> tuple["Job", float]:
    """Start a job with ``start()`` and run it in this process, as its worker would (no broker)."""
    from training_jobs.models import Job
    from training_jobs.runner import job_run

    with mock.patch("training_jobs.services.job_send", lambda job_id: True):
        job = start()
    started = time.perf_counter()
    job_run(job_id=job.id)
    seconds = time.perf_counter() - started
    job = Job.objects.get(id=job.id)
    assert job.status == Job.Status.SUCCEEDED, job.error
    return job, seconds


def one_way(
    *,
    name: str,
    storages: dict[str, dict[str, Any]],
    archive: bytes,
    training_options: dict[str, Any] | None,
    work: Path,
    user: "User",
) -> dict[str, Any]:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import override_settings

    from classifier.models import Dataset, ModelVersion
    from classifier.services.imports import dataset_import_start
    from classifier.services.model_versions import model_version_create

    media = work / f"{name}-media"
    with override_settings(
        STORAGES=storages, MEDIA_ROOT=media, SIGHTLINE_FEATURE_CACHE_DIR=work / f"{name}-feature-cache"
    ):
        dataset = Dataset.objects.create(owner=user, name=f"{name}-{time.monotonic_ns()}")
        upload = SimpleUploadedFile("images.zip", archive, content_type="application/zip")
        job, import_seconds = run_job_here(
            lambda: dataset_import_start(dataset=dataset, requested_by=user, archive=upload)
        )
        imported = job.report["imported"]
        training_seconds, accuracy = float("nan"), float("nan")
        if training_options is not None:
            job, training_seconds = run_job_here(
                lambda: model_version_create(dataset=dataset, requested_by=user, options=training_options).jobs.get()
            )
            version = ModelVersion.objects.get(jobs=job)
            accuracy = version.metrics.get("accuracy")
    stored_locally = sum(1 for path in media.rglob("*") if path.is_file()) if media.exists() else 0
    return {
        "import": import_seconds,
        "training": training_seconds,
        "imported": imported,
        "accuracy": accuracy,
        "local_files": stored_locally,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=5, help="head epochs (ignored with --budget)")
    parser.add_argument("--budget", default="", help="a preset (quick, standard, best) or minutes instead")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--no-training", action="store_true", help="measure the import only")
    options = parser.parse_args()

    from tests.storage_s3 import moto_server_start, moto_server_stop

    work = Path(tempfile.mkdtemp(prefix="sightline-storage-bench-"))
    setup_django(str(work / "var"))
    from django.conf import settings
    from django.contrib.auth.models import User

    process, server = moto_server_start(work / "moto.log")
    try:
        archive = generated_archive(options.images)
        print(
            f"{options.images} generated 64x64 JPEGs ({len(archive) / options.images / 1024:.1f} KB each, "
            f"{CLASSES} classes); S3: moto's server on loopback ({server.endpoint_url}), not a WAN"
        )
        asked: dict[str, Any] = {"budget_minutes": options.budget} if options.budget else {"epochs": options.epochs}
        if not options.budget:
            asked["fine_tune_layers"] = 0
        training = None if options.no_training else asked
        if training is not None:
            print(f"training options: {training} (EfficientNet-Lite0, the plan's defaults otherwise)")
        # Staff: no image or job quotas, so only the work itself is measured.
        user, _ = User.objects.get_or_create(username="bench", defaults={"is_staff": True})
        results: dict[str, list[dict[str, Any]]] = {"local": [], "s3": []}
        for _repeat in range(options.repeats):
            for name in results:
                storages = {**settings.STORAGES}
                if name == "s3":
                    storages["default"] = server.storage_entry(server.bucket_create())
                result = one_way(
                    name=name, storages=storages, archive=archive, training_options=training, work=work, user=user
                )
                results[name].append(result)
                trained = (
                    f"training {result['training']:7.1f} s (test accuracy {result['accuracy']:.3f})  "
                    if training is not None
                    else ""
                )
                print(
                    f"  {name:5}  import {result['import']:7.1f} s ({result['imported']} images)  {trained}"
                    f"files in MEDIA_ROOT: {result['local_files']}",
                    flush=True,
                )
    finally:
        moto_server_stop(process)

    print(f"median of {options.repeats} run(s):")
    for phase in ("import",) if options.no_training else ("import", "training"):
        local = statistics.median(r[phase] for r in results["local"])
        s3 = statistics.median(r[phase] for r in results["s3"])
        print(f"  {phase:8}  local {local:7.1f} s   s3 {s3:7.1f} s   s3/local {s3 / local:.2f}x")


if __name__ == "__main__":
    main()
