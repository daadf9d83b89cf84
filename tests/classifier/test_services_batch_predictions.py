"""Batch predictions on several cores: chunks decoded and predicted side by side on their own
interpreters, yet the CSV keeps the archive's order, every bad member is reported as itself, and a
cancelled job stops between chunks. (The single-core behaviour is in test_services_batch_prediction_start.py.)
"""

import csv
import io
import time
import zipfile

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from classifier.services import batch_predictions
from classifier.services.batch_predictions import batch_prediction_start
from classifier.services.serving import version_serving
from tests.factories import DatasetFactory, image_bytes
from training_jobs import services as job_services
from training_jobs.models import Job
from training_jobs.services import job_cancel

pytestmark = pytest.mark.django_db

COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}


@pytest.fixture
def version(user, make_ready_version):
    return make_ready_version(DatasetFactory(owner=user, name="Colours"), is_active=True)


@pytest.fixture
def answers(monkeypatch):
    """Three cores, chunks of two files, and a record of which interpreter answered each chunk."""
    monkeypatch.setattr(batch_predictions, "BATCH_SIZE", 2)
    monkeypatch.setattr(batch_predictions, "batch_cores", lambda: 3)
    calls = []
    real_answer = batch_predictions.ServingModel.answer

    def recording_answer(self, pixels):
        calls.append(self.predictor)
        return real_answer(self, pixels)

    monkeypatch.setattr(batch_predictions.ServingModel, "answer", recording_answer)
    return calls


def _zip(members: dict[str, bytes]) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return SimpleUploadedFile("photos.zip", buffer.getvalue(), content_type="application/zip")


def _csv_rows(job: Job) -> list[dict]:
    with default_storage.open(job.result_file.name) as stored:
        return list(csv.DictReader(io.StringIO(stored.read().decode("utf-8"))))


def test_a_batch_on_several_cores_keeps_the_archive_order_and_reports_each_bad_member(
    user, version, answers, django_capture_on_commit_callbacks
):
    # Bad members in several chunks (of two), first and last of a chunk among them.
    broken = {4: b"not an image", 7: image_bytes(color=COLOURS["blue"])[:60], 11: b""}
    members = {}
    for index in range(12):
        name = list(COLOURS)[index % 3]
        members[f"{index:02d}-{name}.png"] = broken.get(index, image_bytes(color=COLOURS[name], fmt="PNG"))
    bad = [name for index, name in enumerate(members) if index in broken]

    with django_capture_on_commit_callbacks(execute=True):
        job = batch_prediction_start(owner=user, model_version=version, archive=_zip(members))

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    rows = _csv_rows(job)
    assert [row["filename"] for row in rows] == list(members)
    for row in rows:
        if row["filename"] in bad:
            assert row["filename"] in row["error"] and row["label"] == "", row
        else:
            assert (row["label"], row["error"]) == (row["filename"][3:-4], ""), row
    assert [entry["filename"] for entry in job.report["rejected"]] == bad
    assert (job.report["predicted"], job.report["failed"]) == (9, 3)
    # Each core ran its own interpreter, none of them the process's cached one (calls to it take turns).
    cached = version_serving(version=version).predictor
    assert len(set(map(id, answers))) == 3 and cached not in answers


def test_every_archive_member_gets_its_row_unsafe_names_with_the_reason(
    user, version, django_capture_on_commit_callbacks
):
    # "../x.png" once passed for a hidden file and was dropped without a word ("Predicted 1 of 1 files").
    red = image_bytes(color=COLOURS["red"], fmt="PNG")
    members = {"red.png": red, "../escape.png": red, "/etc/absolute.png": red, ".hidden.png": red}

    with django_capture_on_commit_callbacks(execute=True):
        job = batch_prediction_start(owner=user, model_version=version, archive=_zip(members))

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    rows = {row["filename"]: row for row in _csv_rows(job)}
    assert list(rows) == ["red.png", "../escape.png", "/etc/absolute.png"]
    assert rows["red.png"]["label"] == "red"
    for name in ("../escape.png", "/etc/absolute.png"):
        assert rows[name]["label"] == ""
        assert rows[name]["error"] == f"{name} has an unsafe path and was skipped."
    assert job.message == "Predicted 1 of 3 files"
    assert (job.report["predicted"], job.report["failed"]) == (1, 2)


def test_an_interpreter_replica_answers_as_the_original(version):
    predictor = version_serving(version=version).predictor
    pixels = np.stack(
        [np.full((predictor.input_size, predictor.input_size, 3), colour, np.uint8) for colour in COLOURS.values()]
    )

    replica = predictor.replica(num_threads=1)

    assert replica is not predictor
    for ours, theirs in zip(replica.predict(pixels), predictor.predict(pixels), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_a_cancelled_batch_stops_between_chunks(
    user, version, answers, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(batch_predictions, "BATCH_SIZE", 1)
    slow_answer = batch_predictions.ServingModel.answer

    def slower_answer(self, pixels):
        time.sleep(0.05)  # long enough that chunks are still queued when the user cancels
        return slow_answer(self, pixels)

    monkeypatch.setattr(batch_predictions.ServingModel, "answer", slower_answer)
    real_progress = job_services.ProgressReporter.__call__

    def cancel_after_the_first_chunk(self, progress, message="", **options):
        if message.startswith("1 of"):
            job_cancel(job=Job.objects.get(id=self.job_id))
        return real_progress(self, progress, message, **options)

    monkeypatch.setattr(job_services.ProgressReporter, "__call__", cancel_after_the_first_chunk)
    archive = _zip({f"{index:02d}.png": image_bytes(color=COLOURS["red"], fmt="PNG") for index in range(20)})

    with django_capture_on_commit_callbacks(execute=True):
        job = batch_prediction_start(owner=user, model_version=version, archive=archive)

    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    assert not job.result_file
    assert not default_storage.exists(job.params["archive"])
    # The chunks already running finish; the rest never start.
    assert len(answers) < 10
