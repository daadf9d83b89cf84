"""Imports, augmentation and user deletion that go wrong at the worst moment: a dataset deleted mid-import, a
broker down, a lost worker, an image that left the training split. Each case ends with every row in a state
that tells the truth (a version follows its job) and no stored file that no row references.

Tasks run inline here; the real worker killed with SIGKILL is ``tests/training_jobs/test_worker_crash.py``.
"""

import io
import zipfile

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from classifier.models import Dataset, DatasetImage, ModelVersion, Prediction
from classifier.services import augmentation, imports
from classifier.services.augmentation import dataset_augment_start
from classifier.services.datasets import dataset_delete
from classifier.services.imports import dataset_import_start
from classifier.services.splits import dataset_splits_reassign
from tests.classifier.job_lifecycle_support import colours_dataset, noisy_png, stored_files
from tests.factories import DatasetFactory, UserFactory
from tests.invariants import assert_no_orphan_files
from training_jobs.models import Job
from training_jobs.reaper import jobs_reap
from training_jobs.runner import job_run
from training_jobs.tasks import run_job

# Real commits: clean-up, re-sending and foreign keys act as they do on a server.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def dataset(user):
    return colours_dataset(user)


# Imports and augmentation


def _zip(members: dict[str, bytes]) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return SimpleUploadedFile("birds.zip", buffer.getvalue(), content_type="application/zip")


def test_a_dataset_deleted_while_its_import_runs_leaves_no_rows_and_no_files(user, monkeypatch):
    dataset = DatasetFactory(owner=user)
    real_add = imports.image_add

    def add_then_delete_dataset(**kwargs):
        image = real_add(**kwargs)
        if Dataset.objects.filter(id=dataset.id).exists():
            dataset_delete(dataset=Dataset.objects.get(id=dataset.id))  # the user deletes it meanwhile
        return image

    monkeypatch.setattr(imports, "image_add", add_then_delete_dataset)
    members = {f"robin/{n}.png": noisy_png((10 * n, 100, 50), n) for n in range(4)}

    dataset_import_start(dataset=dataset, requested_by=user, archive=_zip(members))

    assert not Dataset.objects.filter(id=dataset.id).exists()
    assert not DatasetImage.objects.exists() and not Job.objects.exists()
    assert stored_files() == []


def test_an_import_sent_while_the_broker_is_down_waits_queued_then_runs(user, monkeypatch):
    dataset = DatasetFactory(owner=user)

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with monkeypatch.context() as down:
        down.setattr(run_job, "apply_async", refuse)
        archive = _zip({"robin/1.png": noisy_png((1, 2, 3), 1)})
        job = dataset_import_start(dataset=dataset, requested_by=user, archive=archive)
    job.refresh_from_db()
    assert (job.status, job.enqueued_at) == ("queued", None)
    assert default_storage.exists(job.params["archive"]), "the upload must wait with its job"

    Job.objects.filter(id=job.id).update(created_at=job.created_at.replace(year=2000))
    assert jobs_reap()["sent"] == 1  # the broker is back

    job.refresh_from_db()
    assert (job.status, job.report["imported"]) == ("succeeded", 1)
    assert not default_storage.exists(job.params["archive"])
    assert_no_orphan_files()


class WorkerLost(BaseException):
    """Stands in for SIGKILL: nothing after the line that raises it runs, not even except clauses."""


def test_an_import_resumed_after_a_lost_worker_counts_what_it_stored_before_once(user, monkeypatch):
    dataset = DatasetFactory(owner=user)
    real_add = imports.image_add
    added = []

    def add_then_lose_the_worker(**kwargs):
        image = real_add(**kwargs)
        added.append(image.id)
        if len(added) == 2 and kwargs["job"].attempts == 1:
            raise WorkerLost()
        return image

    monkeypatch.setattr(imports, "image_add", add_then_lose_the_worker)
    members = {f"robin/{n}.png": noisy_png((10 * n, 100, 50), n) for n in range(4)}
    members["robin/again.png"] = members["robin/0.png"]
    with monkeypatch.context() as no_broker:
        no_broker.setattr("training_jobs.services.job_send", lambda job_id: True)
        job = dataset_import_start(dataset=dataset, requested_by=user, archive=_zip(members))
    with pytest.raises(WorkerLost):
        job_run(job_id=job.id)
    Job.objects.filter(id=job.id).update(heartbeat_at=job.created_at.replace(year=2000))

    assert jobs_reap()["resumed"] == 1  # a new worker takes it (inline here)

    job.refresh_from_db()
    assert (job.status, job.attempts) == ("succeeded", 2)
    assert (job.report["imported"], job.report["duplicate"], job.report["total"]) == (4, 1, 5)
    assert DatasetImage.objects.filter(dataset=dataset).count() == 4
    assert_no_orphan_files()


def test_augmentation_never_copies_an_image_that_left_the_training_split(user, monkeypatch):
    dataset = colours_dataset(user, count=6)
    real_check = augmentation.image_check
    moved = []

    def check_then_reassign(**kwargs):
        checked = real_check(**kwargs)
        if not moved:
            # The user reassigns the splits while the job runs: the sources' splits change.
            moved.append(dataset_splits_reassign(dataset=dataset, seed=7))
        return checked

    monkeypatch.setattr(augmentation, "image_check", check_then_reassign)
    training_before = set(
        DatasetImage.objects.filter(dataset=dataset, split="train").values_list("id", flat=True)
    )

    job = dataset_augment_start(dataset=dataset, requested_by=user, target_per_class=8)

    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    copies = DatasetImage.objects.filter(dataset=dataset, origin=DatasetImage.Origin.AUGMENTED)
    assert copies.exists()
    assert not copies.exclude(source_image__split="train").exists(), "a held-out image leaked into training"
    assert job.report["created"] == copies.count()
    moved_out = training_before - set(DatasetImage.objects.filter(split="train").values_list("id", flat=True))
    if moved_out:
        assert job.report.get("skipped_not_training", 0) >= 0
    assert_no_orphan_files()


# Users


def test_a_user_deleted_from_the_admin_goes_with_every_row_and_file(client, staff_user, make_ready_version):
    doomed = UserFactory(username="dora")
    kept = UserFactory(username="kim")
    dataset = colours_dataset(doomed, count=3)
    version = make_ready_version(dataset, number=1)
    queued = ModelVersion.objects.create(dataset=dataset, number=2, backbone="tiny", image_size=32)
    job = Job.objects.create(kind=Job.Kind.TRAIN, requested_by=doomed, dataset=dataset, model_version=queued,
                             status=Job.Status.RUNNING, attempts=1)
    from classifier.services.predictions import prediction_create

    prediction_create(owner=doomed, model_version=version, image_bytes=noisy_png((200, 0, 0), 1), filename="p.png")
    kept_dataset = colours_dataset(kept, name="kept", count=2)
    kept_files = stored_files()
    kept_files = [name for name in kept_files if name.startswith(f"datasets/{kept_dataset.id}/")]
    assert kept_files

    client.force_login(staff_user)
    response = client.post(f"/admin/auth/user/{doomed.id}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Dataset.objects.filter(owner=doomed).exists()
    assert not Job.objects.filter(id=job.id).exists()
    assert not Prediction.objects.exists()
    assert stored_files() == kept_files
    assert_no_orphan_files()
