"""A gpu worker killed with SIGKILL in the middle of a 30-epoch training: how long until the job runs
again, and until it succeeds, against the same training left alone.

Real processes on the embedded defaults (SQLite, the filesystem broker) under a temporary folder: a
gpu worker, a cpu worker running beat (the reaper every 30 s, a worker lost after 60 s without a
heartbeat: the shipped defaults), and this script as the client. In one run it prints:
  (a) the training left alone: its wall time and seconds per epoch;
  (b) the seed's behaviour for the same kill: the job sat `running` until a 15-minute stale age and
      was then failed ("start it again"): detection plus a full new training;
  (c) Sightline: the time from the kill to `running` again (new worker started 5 s after the kill)
      and to `succeeded`, beside the target (remaining epochs' time + 3 minutes).

    .venv/bin/python bench/worker_recovery.py [--kill-at 15] [--image-size 96]
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
VAR = Path(tempfile.mkdtemp(prefix="sightline-recovery-"))
os.environ.update(
    {"SIGHTLINE_VAR_DIR": str(VAR), "SIGHTLINE_DEV": "1", "DJANGO_SETTINGS_MODULE": "webapp.settings",
     "TF_CPP_MIN_LOG_LEVEL": "2"}
)
for name in ("DATABASE_URL", "CELERY_BROKER_URL"):
    os.environ.pop(name, None)

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from PIL import Image  # noqa: E402

from classifier.models import Dataset, ModelVersion  # noqa: E402
from classifier.services.images import image_add  # noqa: E402
from classifier.services.model_versions import model_version_create  # noqa: E402
from training_jobs.models import EpochMetric, Job  # noqa: E402

SEED_STALE_SECONDS = 15 * 60


def worker(name: str, queue: str, extra: list[str], log: Path) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "celery", "-A", "webapp", "worker", "-Q", queue, "-n", f"{name}@%h",
            "--loglevel", "INFO", "--prefetch-multiplier", "1", *extra]
    return subprocess.Popen(argv, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def gpu_worker(name: str) -> subprocess.Popen[bytes]:
    return worker(name, "gpu", ["--pool", "prefork", "--concurrency", "1", "--max-tasks-per-child", "1"],
                  VAR / f"{name}.log")


def kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def photos(count: int, seed: int) -> list[bytes]:
    from skimage.data import lfw_subset

    faces = (lfw_subset() * 255).round().astype(np.uint8)  # type: ignore[no-untyped-call]  # scikit-image leaves it unannotated
    rng = np.random.default_rng(seed)
    out = []
    for index in range(count):
        pixels = np.repeat(faces[index % len(faces)][..., None], 3, axis=-1)
        pixels = np.clip(pixels.astype(int) + rng.integers(-8, 9, pixels.shape), 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


def wait_for(condition: Callable[[], bool], timeout: float) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise SystemExit(f"timed out after {timeout} s; logs in {VAR}")
        time.sleep(0.2)
    return time.monotonic() - started


def train_once(dataset: Dataset, owner: User, options: dict[str, Any]) -> tuple[ModelVersion, Job]:
    version = model_version_create(dataset=dataset, requested_by=owner, options=options)
    return version, Job.objects.get(model_version=version)


def finished(job: Job) -> bool:
    return Job.objects.filter(id=job.id, status__in=Job.TERMINAL_STATUSES).exists()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kill-at", type=int, default=15)
    parser.add_argument("--image-size", type=int, default=96)
    arguments = parser.parse_args()
    call_command("migrate", verbosity=0)
    owner = get_user_model().objects.create_user("bench", password="bench-password-1")
    dataset = Dataset.objects.create(owner=owner, name="faces")
    for index, content in enumerate(photos(160, seed=0)):
        label = "first_half" if index < 80 else "second_half"
        image_add(dataset=dataset, content=content, filename=f"{index}.png", label_name=label, origin="upload")
    options = {"backbone": "mobilenet_v3_small", "weights": "none", "image_size": arguments.image_size,
               "epochs": 5, "fine_tune_layers": 40, "fine_tune_epochs": 25, "batch_size": 16,
               "early_stopping_patience": 100}
    total_epochs = options["epochs"] + options["fine_tune_epochs"]

    cpu = worker("cpu", "cpu", ["--pool", "threads", "--concurrency", "2", "--beat"], VAR / "cpu.log")
    workers = [cpu, gpu_worker("gpu-a")]
    try:
        version, job = train_once(dataset, owner, options)
        wait_for(lambda: finished(job), 1800)
        job.refresh_from_db()
        assert job.status == "succeeded", job.error
        assert job.finished_at is not None and job.started_at is not None
        alone = (job.finished_at - job.started_at).total_seconds()
        timed = EpochMetric.objects.filter(job=job).order_by("epoch").values_list("seconds", flat=True)
        epochs = [seconds for seconds in timed if seconds is not None]
        per_epoch = float(np.median(epochs))

        version, job = train_once(dataset, owner, options)
        wait_for(lambda: EpochMetric.objects.filter(job=job).count() >= arguments.kill_at, 1800)
        kill(workers[1])
        killed = time.monotonic()
        killed_after = EpochMetric.objects.filter(job=job).count()
        time.sleep(5)
        workers.append(gpu_worker("gpu-b"))
        running_again = wait_for(lambda: Job.objects.filter(id=job.id, status="running", attempts=2).exists(), 600)
        running_again += 5
        wait_for(lambda: finished(job), 1800)
        to_success = time.monotonic() - killed
    finally:
        for process in workers:
            kill(process)
    job.refresh_from_db()
    version.refresh_from_db()
    rows = list(EpochMetric.objects.filter(job=job).order_by("epoch").values_list("epoch", flat=True))
    remaining = (total_epochs - killed_after) * per_epoch
    print(f"training: {total_epochs} epochs ({options['epochs']} head + {options['fine_tune_epochs']} fine-tuning), "
          f"mobilenet_v3_small {arguments.image_size} px, 128 train images; logs in {VAR}")
    print(f"(a) left alone:           {alone:7.1f} s  ({per_epoch:.2f} s per epoch, median)")
    print(f"(b) seed, same kill:      {SEED_STALE_SECONDS + alone:7.1f} s  to a result "
          f"({SEED_STALE_SECONDS} s until failed, then a full new training)")
    print(f"(c) Sightline, killed after epoch {killed_after}:")
    print(f"      kill -> running again: {running_again:6.1f} s")
    print(f"      kill -> {job.status}:       {to_success:6.1f} s  (target: remaining {remaining:.1f} s + 180 s "
          f"= {remaining + 180:.1f} s; {to_success / (remaining + 180):.2f} of it)")
    print(f"      attempts {job.attempts}, version {version.status}, epochs stored {rows[0]}..{rows[-1]} "
          f"({len(rows)} rows, contiguous: {rows == list(range(1, len(rows) + 1))})")
    print(f"      vs seed: {(SEED_STALE_SECONDS + alone) / to_success:.1f}x sooner to a trained model")


if __name__ == "__main__":
    main()
