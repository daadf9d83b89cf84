"""Jobs that go wrong at the worst moment: each case ends with every row in a state that tells the
truth (a version follows its job) and no stored file that no row references.

Tasks run inline here; the real worker killed with SIGKILL is ``tests/training_jobs/test_worker_crash.py``.
"""

import io
import threading
import zipfile

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from PIL import Image

from classifier.ml import export
from classifier.models import Dataset, DatasetImage, ModelVersion, Prediction
from classifier.services import augmentation, imports, training
from classifier.services.augmentation import dataset_augment_start
from classifier.services.datasets import dataset_delete
from classifier.services.images import image_add
from classifier.services.imports import dataset_import_start
from classifier.services.model_versions import model_version_create, model_version_delete
from classifier.services.splits import dataset_splits_reassign
from tests.factories import DatasetFactory, UserFactory
from tests.invariants import assert_no_orphan_files, assert_versions_follow_their_jobs
from training_jobs.models import EpochMetric, Job
from training_jobs.reaper import jobs_reap
from training_jobs.runner import job_run
from training_jobs.services import job_cancel
from training_jobs.tasks import run_job
from webapp.storage import stored_names

# Real commits: clean-up, re-sending and foreign keys act as they do on a server.
pytestmark = pytest.mark.django_db(transaction=True)

# Head only (no fine-tuning), so each training takes seconds.
TINY = {"backbone": "mobilenet_v3_small", "image_size": 32, "weights": "none", "epochs": 3, "batch_size": 8,
        "fine_tune_layers": 0}


def _png(color, seed, size=32) -> bytes:
    noise = np.random.default_rng(seed).integers(0, 40, (size, size, 3))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(np.array(color) + noise, 0, 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _colours(owner, name="colours", count=12) -> Dataset:
    dataset = DatasetFactory(owner=owner, name=name)
    for index in range(count):
        for label, color, offset in (("red", (220, 20, 20), 0), ("blue", (20, 20, 220), 100)):
            image_add(dataset=dataset, content=_png(color, offset + index), filename=f"{label}{index}.png",
                      label_name=label, origin="upload")
    return dataset


def _stored_files() -> list[str]:
    return sorted(stored_names())


def _version_files(version: ModelVersion) -> list[str]:
    folder = training.model_version_training_folder(version)
    return [name for name in _stored_files() if name.startswith(f"{folder}/")]


@pytest.fixture
def dataset(user):
    return _colours(user)


# Training


def test_a_cancel_during_the_export_ends_job_and_version_cancelled_with_no_files(dataset, user, monkeypatch):
    real_export = export.export_tflite

    def export_then_cancel(model, path):
        real_export(model, path)
        job_cancel(job=Job.objects.get(kind=Job.Kind.TRAIN))  # the user presses Cancel during the export

    monkeypatch.setattr(export, "export_tflite", export_then_cancel)

    version = model_version_create(dataset=dataset, requested_by=user, options=TINY)

    version.refresh_from_db()
    job = version.jobs.get()
    assert (job.status, version.status, version.is_active) == ("cancelled", "cancelled", False)
    assert not version.tflite_file and not version.keras_file
    assert _version_files(version) == []
    assert_versions_follow_their_jobs()
    assert_no_orphan_files()


def test_a_reap_during_the_final_step_resumes_from_the_checkpoint_and_keeps_one_set_of_files(
    dataset, user, monkeypatch, settings
):
    settings.SIGHTLINE_JOB_STALE_SECONDS = 60
    real_save = training.model_version_artifacts_store
    reaped = []

    def stall_then_reap(**kwargs):
        if not reaped:
            # The worker looks dead (a long pause with no heartbeat): the reaper gives the job to
            # another worker, which goes on from the last checkpoint, while this one still exports.
            job = Job.objects.get(kind=Job.Kind.TRAIN)
            Job.objects.filter(id=job.id).update(heartbeat_at=job.heartbeat_at.replace(year=2000))
            monkeypatch.setattr("training_jobs.services.job_send", lambda job_id: reaped.append(job_id) or True)
            reaped.append(jobs_reap()["resumed"])
            monkeypatch.undo()
        return real_save(**kwargs)

    monkeypatch.setattr(training, "model_version_artifacts_store", stall_then_reap)
    version = model_version_create(dataset=dataset, requested_by=user, options={**TINY, "epochs": 4})
    job = version.jobs.get()
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("queued", 1), "the first worker's result must not be kept"
    epochs_before = list(EpochMetric.objects.filter(job=job).values_list("epoch", "pk"))

    run_job.apply(args=[job.id])  # the new worker

    job.refresh_from_db()
    version.refresh_from_db()
    assert (job.status, job.attempts, version.status, version.is_active) == ("succeeded", 2, "ready", True)
    # Every epoch had been checkpointed: the new attempt trained none of them again.
    assert list(EpochMetric.objects.filter(job=job).values_list("epoch", "pk")) == epochs_before
    names = {name.rsplit("/", 1)[-1] for name in _version_files(version)}
    assert names == {
        "manifest.csv.gz", "metadata.json", "model.keras", "model.tflite", "model_int8.tflite", "savedmodel.zip",
        "unknown.npz",
    }
    assert_versions_follow_their_jobs()
    assert_no_orphan_files()


def test_a_reap_on_the_last_attempt_during_the_final_step_fails_the_version_and_removes_its_files(
    dataset, user, monkeypatch, settings
):
    settings.SIGHTLINE_JOB_MAX_ATTEMPTS = 1
    real_save = training.model_version_artifacts_store

    def stall_then_reap(**kwargs):
        job = Job.objects.get(kind=Job.Kind.TRAIN)
        Job.objects.filter(id=job.id).update(heartbeat_at=job.heartbeat_at.replace(year=2000))
        jobs_reap()
        return real_save(**kwargs)

    monkeypatch.setattr(training, "model_version_artifacts_store", stall_then_reap)
    version = model_version_create(dataset=dataset, requested_by=user, options=TINY)

    version.refresh_from_db()
    job = version.jobs.get()
    assert (job.status, version.status, version.is_active) == ("failed", "failed", False)
    assert "was lost" in job.error
    assert _version_files(version) == []
    assert_versions_follow_their_jobs()
    assert_no_orphan_files()


def test_a_failure_while_saving_the_result_fails_the_version_instead_of_leaving_it_training(
    dataset, user, monkeypatch
):
    def locked(**kwargs):
        from django.db import OperationalError

        raise OperationalError("database is locked")

    monkeypatch.setattr(training, "_version_ready", locked)
    version = model_version_create(dataset=dataset, requested_by=user, options=TINY)

    version.refresh_from_db()
    job = version.jobs.get()
    assert job.status == "failed" and "database is locked" in job.error
    assert (version.status, version.is_active) == ("failed", False)
    assert _version_files(version) == []
    # A failed version can be deleted (it never could while it stayed "training").
    model_version_delete(version=version)
    assert not ModelVersion.objects.filter(id=version.id).exists()
    assert_no_orphan_files()


def test_two_versions_finishing_at_once_leave_exactly_one_active(dataset, user):
    if connection.vendor != "postgresql":
        pytest.skip("needs row locks across connections (PostgreSQL)")
    from django.db import transaction

    first = model_version_create(dataset=dataset, requested_by=user, options={**TINY, "epochs": 1})
    ModelVersion.objects.filter(id=first.id).update(status="training", is_active=False)
    second = ModelVersion.objects.create(dataset=dataset, number=2, backbone="tiny", image_size=32, status="training")
    barrier = threading.Barrier(2)
    errors = []

    def finish(version):
        try:
            barrier.wait()
            with transaction.atomic():
                training._version_ready(version=version, fields={})
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=finish, args=(version,)) for version in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert ModelVersion.objects.filter(dataset=dataset, status="ready").count() == 2
    assert ModelVersion.objects.filter(dataset=dataset, is_active=True).count() == 1


def test_deleting_a_version_while_it_trains_cancels_its_job_and_removes_every_file(dataset, user, monkeypatch):
    real_epoch_end = training._JobObserver.on_epoch_end
    deleted = []

    def delete_after_first_epoch(self, epoch, phase, logs):
        real_epoch_end(self, epoch, phase, logs)
        if not deleted:
            deleted.append(epoch)
            model_version_delete(version=ModelVersion.objects.get(id=self.job.model_version_id))

    monkeypatch.setattr(training._JobObserver, "on_epoch_end", delete_after_first_epoch)
    model_version_create(dataset=dataset, requested_by=user, options={**TINY, "epochs": 5})

    assert deleted == [1]
    assert not ModelVersion.objects.exists() and not Job.objects.filter(kind=Job.Kind.TRAIN).exists()
    assert not [name for name in _stored_files() if name.startswith("models/")]
    assert_no_orphan_files()


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
    members = {f"robin/{n}.png": _png((10 * n, 100, 50), n) for n in range(4)}

    dataset_import_start(dataset=dataset, requested_by=user, archive=_zip(members))

    assert not Dataset.objects.filter(id=dataset.id).exists()
    assert not DatasetImage.objects.exists() and not Job.objects.exists()
    assert _stored_files() == []


def test_an_import_sent_while_the_broker_is_down_waits_queued_then_runs(user, monkeypatch):
    dataset = DatasetFactory(owner=user)

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with monkeypatch.context() as down:
        down.setattr(run_job, "apply_async", refuse)
        archive = _zip({"robin/1.png": _png((1, 2, 3), 1)})
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
    members = {f"robin/{n}.png": _png((10 * n, 100, 50), n) for n in range(4)}
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
    dataset = _colours(user, count=6)
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
    dataset = _colours(doomed, count=3)
    version = make_ready_version(dataset, number=1)
    queued = ModelVersion.objects.create(dataset=dataset, number=2, backbone="tiny", image_size=32)
    job = Job.objects.create(kind=Job.Kind.TRAIN, requested_by=doomed, dataset=dataset, model_version=queued,
                             status=Job.Status.RUNNING, attempts=1)
    from classifier.services.predictions import prediction_create

    prediction_create(owner=doomed, model_version=version, image_bytes=_png((200, 0, 0), 1), filename="p.png")
    kept_dataset = _colours(kept, name="kept", count=2)
    kept_files = _stored_files()
    kept_files = [name for name in kept_files if name.startswith(f"datasets/{kept_dataset.id}/")]
    assert kept_files

    client.force_login(staff_user)
    response = client.post(f"/admin/auth/user/{doomed.id}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Dataset.objects.filter(owner=doomed).exists()
    assert not Job.objects.filter(id=job.id).exists()
    assert not Prediction.objects.exists()
    assert _stored_files() == kept_files
    assert_no_orphan_files()
