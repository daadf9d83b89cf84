"""Batch predictions of a ZIP (``batch_prediction_start``): a CSV row per file, progress in batches,
archive limits, and what it refuses at once. (Several cores: test_services_batch_predictions.py.)

The models are real: tiny colour classifiers exported to TFLite (see conftest), served through
LiteRT exactly as in production.
"""

import csv
import io
import zipfile

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from classifier.models import ModelVersion
from classifier.services import batch_predictions
from classifier.services.batch_predictions import batch_prediction_start
from classifier.services.serving import VersionNotServable
from tests.classifier.prediction_support import BLUE, GREEN, GREY, RED, png
from tests.factories import image_bytes
from training_jobs.models import Job

pytestmark = pytest.mark.django_db


# Batch predictions


def _zip(members: dict[str, bytes]) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return SimpleUploadedFile("photos.zip", buffer.getvalue(), content_type="application/zip")


def _csv_rows(job: Job) -> list[dict]:
    with default_storage.open(job.result_file.name) as stored:
        return list(csv.DictReader(io.StringIO(stored.read().decode("utf-8"))))


def test_a_batch_prediction_writes_a_csv_row_per_file(user, version, django_capture_on_commit_callbacks):
    archive = _zip(
        {
            "red.png": png(RED),
            "shades/blue.jpg": image_bytes(color=BLUE),
            "shades/grey.png": png(GREY),
            "notes.txt": b"not an image",
            "broken.jpg": image_bytes(color=GREEN)[:60],
            "__MACOSX/._red.png": b"resource fork",
        }
    )

    with django_capture_on_commit_callbacks(execute=True):
        job = batch_prediction_start(owner=user, model_version=version, archive=archive)

    job.refresh_from_db()
    assert (job.kind, job.status, job.model_version, job.requested_by) == ("batch_predict", "succeeded", version, user)
    rows = _csv_rows(job)
    assert list(rows[0]) == ["filename", "label", "probability", "is_unknown", "error"]
    by_name = {row["filename"]: row for row in rows}
    assert list(by_name) == ["red.png", "shades/blue.jpg", "shades/grey.png", "notes.txt", "broken.jpg"]
    assert (by_name["red.png"]["label"], by_name["red.png"]["is_unknown"], by_name["red.png"]["error"]) == (
        "red",
        "false",
        "",
    )
    assert float(by_name["red.png"]["probability"]) > 0.9
    assert by_name["shades/blue.jpg"]["label"] == "blue"
    assert by_name["shades/grey.png"]["is_unknown"] == "true"
    assert "notes.txt is not an image" in by_name["notes.txt"]["error"]
    assert by_name["notes.txt"]["label"] == ""
    assert "broken.jpg" in by_name["broken.jpg"]["error"]
    assert job.report["total"] == 5
    assert (job.report["predicted"], job.report["unknown"], job.report["failed"]) == (3, 1, 2)
    assert sum(job.report["classes"].values()) == 3
    assert [entry["filename"] for entry in job.report["rejected"]] == ["notes.txt", "broken.jpg"]
    # The uploaded archive is gone; the CSV stays for download.
    assert not default_storage.exists(job.params["archive"])


def test_a_batch_predicts_in_batches_and_reports_progress(
    user, version, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(batch_predictions, "BATCH_SIZE", 2)
    calls = []
    real_answer = batch_predictions.ServingModel.answer

    def counting_answer(self, pixels):
        calls.append(len(pixels))
        return real_answer(self, pixels)

    monkeypatch.setattr(batch_predictions.ServingModel, "answer", counting_answer)
    archive = _zip({f"{index}.png": png((index * 40, 0, 255)) for index in range(5)})

    with django_capture_on_commit_callbacks(execute=True):
        job = batch_prediction_start(owner=user, model_version=version, archive=archive)

    job.refresh_from_db()
    assert job.status == "succeeded"
    # Chunks run on several cores at once, so they may finish in any order.
    assert sorted(calls) == [1, 2, 2]
    assert len(_csv_rows(job)) == 5


def test_a_zip_bomb_fails_the_batch_before_anything_is_predicted(
    user, version, settings, django_capture_on_commit_callbacks
):
    settings.SIGHTLINE_MAX_ARCHIVE_MEMBERS = 2
    archive = _zip({f"{index}.png": png(RED) for index in range(3)})

    with django_capture_on_commit_callbacks(execute=True):
        job = batch_prediction_start(owner=user, model_version=version, archive=archive)

    job.refresh_from_db()
    assert job.status == "failed"
    assert "the limit is 2" in job.error
    assert not job.result_file


def test_a_batch_needs_a_ready_version_and_a_zip(user, dataset, make_ready_version):
    failed = make_ready_version(dataset, status=ModelVersion.Status.FAILED)
    ready = make_ready_version(dataset, number=2)

    with pytest.raises(VersionNotServable):
        batch_prediction_start(owner=user, model_version=failed, archive=_zip({"a.png": png(RED)}))
    with pytest.raises(ValidationError) as caught:
        batch_prediction_start(
            owner=user, model_version=ready, archive=SimpleUploadedFile("photos.zip", b"not a zip at all")
        )
    assert "not a ZIP archive" in caught.value.message_dict["archive"][0]
    assert not Job.objects.exists()
