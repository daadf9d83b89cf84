"""Several hosts, simulated: a web process and two Celery workers, each with its own local folders (var,
media, caches; no shared filesystem), sharing only PostgreSQL, Redis and an S3 server (moto's, as its
own process). An import runs on one worker (cpu), a training on the other (gpu), predictions on the web
process and a batch on the first worker (inference); deleting local cache folders midway changes no
answer.
"""

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import redis
import requests
from django.conf import settings
from django.db import connection
from PIL import Image
from rest_framework.authtoken.models import Token

from classifier.models import DatasetImage, ModelVersion

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
TINY = {
    "backbone": "mobilenet_v3_small",
    "image_size": 32,
    "weights": "none",
    "epochs": 3,
    "batch_size": 8,
    "fine_tune_layers": 0,
}
RED, BLUE = (220, 20, 20), (20, 20, 220)
# A Redis database of its own: no other test's worker may take these hosts' tasks.
BROKER_DATABASE = 12


def _png(color, seed) -> bytes:
    noise = np.random.default_rng(seed).integers(0, 40, (32, 32, 3))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(np.array(color) + noise, 0, 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for member, content in members.items():
            archive.writestr(member, content)
    return buffer.getvalue()


def _database_url() -> str:
    database = connection.settings_dict
    user = database["USER"] or "postgres"
    return f"postgres://{user}@{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}/{database['NAME']}"


def _broker_url() -> str:
    configured = settings.CELERY_BROKER_URL
    base = configured.rsplit("/", 1)[0] if configured.startswith("redis://") else "redis://127.0.0.1:6379"
    return f"{base}/{BROKER_DATABASE}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Host:
    """One simulated machine: a process with its own folders under ``root``."""

    def __init__(self, name: str, root: Path, shared: dict[str, str]) -> None:
        self.name, self.root = name, root
        self.log = root / f"{name}.log"
        self.media = root / "media"
        self.feature_cache = root / "feature-cache"
        root.mkdir(parents=True)
        self.env = {
            **os.environ,
            **shared,
            "SIGHTLINE_VAR_DIR": str(root / "var"),
            "MEDIA_ROOT": str(self.media),
            "SIGHTLINE_FEATURE_CACHE_DIR": str(self.feature_cache),
            "SIGHTLINE_SCRATCH_DIR": str(root / "scratch"),
            "SIGHTLINE_DEV": "1",
            "SIGHTLINE_JOB_HEARTBEAT_SECONDS": "0.5",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "CUDA_VISIBLE_DEVICES": "",
        }
        self.env.pop("SIGHTLINE_TEST_STORAGE", None)
        self.process: subprocess.Popen | None = None

    def start(self, argv: list[str]) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, *argv],
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def local_caches_delete(self) -> None:
        shutil.rmtree(self.feature_cache, ignore_errors=True)
        for cache in (self.root / "var").glob("*cache*"):
            shutil.rmtree(cache, ignore_errors=True)

    def stored_files(self) -> list[Path]:
        return [path for path in self.media.rglob("*") if path.is_file()] if self.media.exists() else []


def _worker_argv(name: str, queues: str) -> list[str]:
    return [
        "-m", "celery", "-A", "webapp", "worker", "-Q", queues, "-n", f"{name}@%h", "--pool", "solo",
        "--without-gossip", "--without-mingle", "--loglevel", "INFO",
    ]  # fmt: skip


@pytest.fixture
def shared_services():
    if connection.vendor != "postgresql":
        pytest.skip("hosts share a database server (CI runs PostgreSQL)")
    client = redis.Redis.from_url(_broker_url())
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("hosts share a Redis broker (CI runs Redis)")
    client.flushdb()
    return client


def test_a_web_process_and_two_workers_sharing_only_postgres_redis_and_s3(shared_services, s3_storage, user, tmp_path):
    shared = {
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": _broker_url(),
        **s3_storage.server.environment(s3_storage.bucket),
    }
    port = _free_port()
    web = Host("web", tmp_path / "web", shared)
    first = Host("worker-cpu", tmp_path / "worker-cpu", shared)
    second = Host("worker-gpu", tmp_path / "worker-gpu", shared)
    hosts = [web, first, second]
    base = f"http://127.0.0.1:{port}/api/v1"
    http = requests.Session()
    http.headers["Authorization"] = f"Token {Token.objects.create(user=user).key}"

    def wait(condition, seconds: float, what: str):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if value := condition():
                return value
            time.sleep(0.2)
        tails = "\n".join(f"--- {host.name}\n{host.log.read_text()[-3000:]}" for host in hosts if host.log.exists())
        raise AssertionError(f"timed out waiting for {what}\n{tails}")

    def web_up() -> bool:
        try:
            return http.get(f"{base}/datasets/", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    def finished_job(job_id: int, seconds: float = 90) -> dict:
        def done():
            job = http.get(f"{base}/jobs/{job_id}/", timeout=5).json()
            return job if job["status"] in ("succeeded", "failed", "cancelled") else None

        return wait(done, seconds, f"job {job_id}")

    def predict(version_id: int, image: bytes) -> dict:
        response = http.post(f"{base}/model-versions/{version_id}/predict/", files={"image": ("x.png", image)})
        assert response.status_code == 200, response.text
        return response.json()

    web.start(["manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--nothreading"])
    first.start(_worker_argv("hosts-cpu", "cpu,inference"))
    second.start(_worker_argv("hosts-gpu", "gpu"))
    try:
        wait(web_up, 60, "the web process")
        dataset = http.post(f"{base}/datasets/", json={"name": "Colours"}).json()
        members = {f"red/{index}.png": _png(RED, index) for index in range(12)}
        members |= {f"blue/{index}.png": _png(BLUE, 100 + index) for index in range(12)}
        imported = http.post(
            f"{base}/datasets/{dataset['id']}/imports/", files={"archive": ("colours.zip", _zip(members))}
        )
        assert imported.status_code == 202, imported.text
        job = finished_job(imported.json()["job"]["id"])
        assert (job["status"], job["report"]["imported"]) == ("succeeded", 24), job

        trained = http.post(f"{base}/datasets/{dataset['id']}/model-versions/", json=TINY)
        assert trained.status_code == 202, trained.text
        training_id = trained.json()["job"]["id"]
        wait(lambda: http.get(f"{base}/jobs/{training_id}/").json()["status"] != "queued", 60, "the training")
        second.local_caches_delete()  # the training host's feature cache, while it trains
        job = finished_job(training_id, seconds=300)
        assert job["status"] == "succeeded", job
        version = ModelVersion.objects.get(dataset_id=dataset["id"])
        assert version.status == ModelVersion.Status.READY

        red, blue = _png(RED, 999), _png(BLUE, 998)
        before = [predict(version.id, red), predict(version.id, blue)]
        assert [answer["predictions"][0]["label"] for answer in before] == ["red", "blue"]
        for host in hosts:
            host.local_caches_delete()
        after = [predict(version.id, red), predict(version.id, blue)]
        assert [answer["predictions"] for answer in after] == [answer["predictions"] for answer in before]

        batch = http.post(
            f"{base}/model-versions/{version.id}/batch-predictions/",
            files={"archive": ("batch.zip", _zip({"a-red.png": red, "b-blue.png": blue}))},
        )
        assert batch.status_code == 202, batch.text
        job = finished_job(batch.json()["job"]["id"])
        assert (job["status"], job["report"]["predicted"]) == ("succeeded", 2), job
        rows = http.get(f"{base}/jobs/{job['id']}/result/").text.splitlines()
        assert rows[1].startswith("a-red.png,red") and rows[2].startswith("b-blue.png,blue"), rows
        ran_on = {host.name: host.log.read_text() for host in (first, second)}
    finally:
        for host in hosts:
            host.stop()

    # Each task ran on the host of its queue, and no host wrote a stored file on its own disk.
    assert "run_job" in ran_on["worker-cpu"] and "run_job" in ran_on["worker-gpu"], ran_on
    assert all(host.stored_files() == [] for host in hosts)
    images = DatasetImage.objects.filter(dataset_id=dataset["id"])
    keys = set(s3_storage.keys())
    assert {image.file.name for image in images} <= keys and version.tflite_file.name in keys
