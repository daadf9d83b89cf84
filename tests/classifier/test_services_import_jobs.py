"""How import jobs end: failures that keep what was there, crashes, cancelling, progress, and a task
delivered twice."""

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from classifier.models import DatasetImage
from classifier.services import imports
from classifier.services.imports import dataset_import_run, dataset_import_start
from tests.classifier.import_support import jpeg, make_zip, stored_files
from tests.factories import DatasetFactory, DatasetImageFactory
from training_jobs.models import Job
from training_jobs.services import job_cancel
from training_jobs.tasks import run_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(user):
    return DatasetFactory(owner=user)


def test_failed_import_leaves_existing_images_untouched(dataset, run_import, settings):
    existing = [DatasetImageFactory(dataset=dataset) for _ in range(2)]
    before = (
        stored_files(settings),
        sorted(DatasetImage.objects.values_list("id", "label_id", "split", "file")),
    )

    job = run_import(dataset, make_zip({"robin/1.jpg": jpeg(1), "robin/bomb.jpg": bytes(2 * 1024 * 1024)}))

    assert job.status == "failed"
    assert before == (
        stored_files(settings),
        sorted(DatasetImage.objects.values_list("id", "label_id", "split", "file")),
    )
    assert all(default_storage.exists(image.file.name) for image in existing)


def test_crash_mid_import_keeps_what_was_imported_and_fails_the_job(dataset, run_import, settings, monkeypatch):
    existing = DatasetImageFactory(dataset=dataset)
    real_image_add = imports.image_add
    calls = []

    def image_add_until_the_disk_fills(**kwargs):
        calls.append(kwargs["filename"])
        if len(calls) == 2:
            raise OSError("No space left on device")
        return real_image_add(**kwargs)

    monkeypatch.setattr(imports, "image_add", image_add_until_the_disk_fills)

    job = run_import(dataset, make_zip({f"robin/{n}.jpg": jpeg(n) for n in range(3)}))

    assert (job.status, job.error) == ("failed", "OSError: No space left on device")
    names = set(DatasetImage.objects.filter(dataset=dataset).values_list("original_name", flat=True))
    assert names == {existing.original_name, "robin/0.jpg"}
    # The stored archive is deleted however the job ends.
    assert not any(name.startswith("imports/") for name in stored_files(settings))


def test_cancelling_stops_the_import_after_the_file_in_hand(dataset, run_import, settings, monkeypatch):
    real_image_add = imports.image_add

    def image_add_then_user_cancels(**kwargs):
        image = real_image_add(**kwargs)
        job_cancel(job=Job.objects.get(dataset=dataset))
        return image

    monkeypatch.setattr(imports, "image_add", image_add_then_user_cancels)

    job = run_import(dataset, make_zip({f"robin/{n}.jpg": jpeg(n) for n in range(3)}))

    assert (job.status, job.message, job.error) == ("cancelled", "Cancelled", "")
    assert list(DatasetImage.objects.filter(dataset=dataset).values_list("original_name", flat=True)) == ["robin/0.jpg"]
    assert not any(name.startswith("imports/") for name in stored_files(settings))


def test_progress_is_reported_between_files(dataset, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        job = dataset_import_start(
            dataset=dataset,
            requested_by=user,
            archive=SimpleUploadedFile("birds.zip", make_zip({f"robin/{n}.jpg": jpeg(n) for n in range(3)})),
        )
    calls = []

    result = dataset_import_run(job=job, progress=lambda fraction, text: calls.append((fraction, text)))

    assert calls == [(1 / 3, "1 of 3 files"), (2 / 3, "2 of 3 files"), (1.0, "3 of 3 files")]
    assert (result.report["imported"], result.message) == (3, "Imported 3 of 3 files")


def test_delivering_the_task_twice_imports_once(dataset, run_import):
    job = run_import(dataset, make_zip({"robin/1.jpg": jpeg(1)}))

    run_job.apply(args=[job.id])

    job.refresh_from_db()
    assert (job.status, job.report["imported"]) == ("succeeded", 1)
    assert DatasetImage.objects.filter(dataset=dataset).count() == 1
