"""End to end through the real queue: a Celery worker consumes the configured broker (Redis in CI,
the filesystem transport locally) and writes to the real database."""

import io
import time
import zipfile

import pytest
from celery.contrib.testing.worker import start_worker
from rest_framework.test import APIClient

from tests.factories import DatasetFactory, image_bytes
from webapp.celery import app as celery_app

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _archive() -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("cats/one.jpg", image_bytes(color=(250, 10, 10)))
        archive.writestr("cats/two.jpg", image_bytes(color=(240, 20, 10)))
        archive.writestr("dogs/one.jpg", image_bytes(color=(10, 10, 250)))
        archive.writestr("dogs/broken.jpg", b"this is not an image")
    buffer.seek(0)
    buffer.name = "pets.zip"
    return buffer


def _wait_for_job(client: APIClient, job_id: int, timeout: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}/").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {timeout}s: {job}")


def test_import_submitted_over_api_is_processed_by_a_real_worker(user):
    dataset = DatasetFactory(owner=user)
    client = APIClient()
    token = client.post(
        "/api/v1/auth/token/", {"username": "alice", "password": "correct-horse-battery"}, format="json"
    ).json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    with start_worker(celery_app, queues=["cpu"], perform_ping_check=False, shutdown_timeout=30):
        response = client.post(f"/api/v1/datasets/{dataset.id}/imports/", {"archive": _archive()}, format="multipart")
        assert response.status_code == 202, response.content
        job = _wait_for_job(client, response.json()["job"]["id"])

    assert job["status"] == "succeeded", job
    assert job["report"]["imported"] == 3
    assert job["report"]["not_image"] == 1
    assert [r["filename"] for r in job["report"]["rejected"]] == ["dogs/broken.jpg"]
    detail = client.get(f"/api/v1/datasets/{dataset.id}/").json()
    assert {c["name"]: c["image_count"] for c in detail["classes"]} == {"cats": 2, "dogs": 1}
