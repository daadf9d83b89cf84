"""A real gpu worker process is killed with SIGKILL in the middle of a training; a new one resumes the
job from its last checkpoint once the reaper sees the heartbeat stop.

Both workers are separate processes on the test's PostgreSQL database and broker (Redis in CI), as in
production; the reaper runs in the test with a short stale age, as beat runs it.
"""

import io
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.db import connection
from PIL import Image

from classifier.models import ModelVersion
from classifier.services.images import image_add
from classifier.services.model_versions import model_version_create
from classifier.services.serving import version_predict
from tests.factories import DatasetFactory
from tests.invariants import assert_no_orphan_files, assert_versions_follow_their_jobs
from training_jobs.models import EpochMetric, Job
from training_jobs.reaper import jobs_reap
from webapp.celery import app as celery_app

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
# Fine-tuning epochs of a small backbone: slow enough to kill in the middle of, fast enough for CI.
OPTIONS = {
    "backbone": "mobilenet_v3_small",
    "weights": "none",
    "image_size": 64,
    "epochs": 2,
    "fine_tune_layers": 20,
    "fine_tune_epochs": 14,
    "batch_size": 2,
    "early_stopping_patience": 50,
}
TOTAL_EPOCHS = OPTIONS["epochs"] + OPTIONS["fine_tune_epochs"]


def _png(color, seed) -> bytes:
    noise = np.random.default_rng(seed).integers(0, 40, (64, 64, 3))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(np.array(color) + noise, 0, 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _database_url() -> str:
    database = connection.settings_dict
    user = database["USER"] or "postgres"
    return f"postgres://{user}@{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}/{database['NAME']}"


def _start_worker(name: str, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "SIGHTLINE_FEATURE_CACHE_DIR": str(settings.SIGHTLINE_FEATURE_CACHE_DIR),
        "SIGHTLINE_DEV": "1",
        "SIGHTLINE_JOB_HEARTBEAT_SECONDS": "0.5",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    argv = [
        sys.executable, "-m", "celery", "-A", "webapp", "worker", "-Q", "gpu", "-n", f"{name}@%h",
        "--pool", "prefork", "--concurrency", "1", "--max-tasks-per-child", "1", "--prefetch-multiplier", "1",
        "--without-gossip", "--without-mingle", "--loglevel", "INFO",
    ]
    # Its own session, so the kill takes the parent and its child, as a lost machine would.
    return subprocess.Popen(  # noqa: S603 - fixed argv
        argv, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def _stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)


def _wait(condition, timeout: float, what: str, logs: list[Path]):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    tails = "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in logs if log.exists())
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


@pytest.fixture
def shared_database():
    if connection.vendor != "postgresql":
        pytest.skip("worker processes need a database server they can share with the test (CI runs PostgreSQL)")


def test_a_training_whose_worker_is_killed_resumes_from_its_last_epoch_on_a_new_worker(
    shared_database, user, settings, tmp_path
):
    dataset = DatasetFactory(owner=user, name="colours")
    for index in range(12):
        image_add(dataset=dataset, content=_png((220, 20, 20), index), filename=f"red{index}.png",
                  label_name="red", origin="upload")
        image_add(dataset=dataset, content=_png((20, 20, 220), 100 + index), filename=f"blue{index}.png",
                  label_name="blue", origin="upload")
    with celery_app.connection_for_write() as broker:
        broker.default_channel.queue_purge("gpu")
    logs = [tmp_path / "first-worker.log", tmp_path / "second-worker.log"]

    first = _start_worker("crash-first", logs[0])
    second = None
    try:
        version = model_version_create(dataset=dataset, requested_by=user, options=OPTIONS)
        job = Job.objects.get(model_version=version)
        # Killed in the fine-tuning phase, after at least two epochs, with epochs still to go.
        _wait(lambda: EpochMetric.objects.filter(job=job).count() >= 3, 240, "three epochs", logs)
        _stop(first)
        killed_at = time.monotonic()
        before_kill = {m.epoch: (m.pk, m.val_loss) for m in EpochMetric.objects.filter(job=job)}
        assert 3 <= len(before_kill) < TOTAL_EPOCHS, "the training finished before it could be killed"
        job.refresh_from_db()
        assert (job.status, job.attempts) == ("running", 1)

        second = _start_worker("crash-second", logs[1])
        settings.SIGHTLINE_JOB_STALE_SECONDS = 3

        def resumed() -> bool:
            jobs_reap()
            return Job.objects.filter(id=job.id, status=Job.Status.RUNNING, attempts=2).exists()

        _wait(resumed, 120, "the job to run again on the second worker", logs)
        running_again = time.monotonic() - killed_at
        _wait(lambda: Job.objects.filter(id=job.id).exclude(status__in=["queued", "running"]).exists(),
              300, "the resumed job to finish", logs)
    finally:
        _stop(first)
        if second is not None:
            _stop(second)

    job.refresh_from_db()
    version.refresh_from_db()
    assert job.status == "succeeded", f"{job.error}\n{logs[1].read_text()[-3000:]}"
    assert job.attempts == 2
    assert (version.status, version.is_active) == (ModelVersion.Status.READY, True)
    epochs = list(EpochMetric.objects.filter(job=job).order_by("epoch"))
    # The curve goes on where it stopped: no gap, no epoch twice, the epochs before the kill untouched.
    assert [m.epoch for m in epochs] == list(range(1, TOTAL_EPOCHS + 1))
    assert {m.epoch: (m.pk, m.val_loss) for m in epochs if m.epoch in before_kill} == before_kill
    answer = version_predict(version=version, image_bytes=_png((220, 20, 20), 999), top_k=2)
    assert {p["label"] for p in answer["predictions"]} == {"red", "blue"}
    assert_versions_follow_their_jobs()
    assert_no_orphan_files()
    print(f"\nkilled after epoch {max(before_kill)}; running again after {running_again:.1f} s")


def test_the_reaper_settings_resume_a_lost_job_within_two_minutes():
    # Stale age plus one reaper interval bounds the time from a lost worker to a new attempt.
    assert settings.SIGHTLINE_JOB_STALE_SECONDS + settings.SIGHTLINE_REAPER_INTERVAL_SECONDS <= 120
    assert settings.SIGHTLINE_JOB_STALE_SECONDS >= 3 * settings.SIGHTLINE_JOB_HEARTBEAT_SECONDS
    assert settings.CELERY_VISIBILITY_TIMEOUT > settings.CELERY_TASK_TIME_LIMIT
    assert timedelta(seconds=settings.CELERY_BROKER_TRANSPORT_OPTIONS.get(
        "visibility_timeout", settings.CELERY_VISIBILITY_TIMEOUT)) > timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
