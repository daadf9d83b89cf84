"""Trainings that go wrong at the worst moment: cancelled or reaped during the export, failing while saving,
finishing together, deleted while training. Each case ends with every row in a state that tells the truth
(a version follows its job) and no stored file that no row references.

Tasks run inline here; the real worker killed with SIGKILL is ``tests/training_jobs/test_worker_crash.py``.
"""

import threading

import pytest
from django.db import connection

from classifier.ml import export
from classifier.models import ModelVersion
from classifier.services import training
from classifier.services.model_artifacts import model_version_training_folder
from classifier.services.model_versions import model_version_create, model_version_delete
from classifier.services.training_observer import JobObserver
from tests.classifier.job_lifecycle_support import colours_dataset, stored_files
from tests.invariants import assert_no_orphan_files, assert_versions_follow_their_jobs
from training_jobs.models import EpochMetric, Job
from training_jobs.reaper import jobs_reap
from training_jobs.services import job_cancel
from training_jobs.tasks import run_job

# Real commits: clean-up, re-sending and foreign keys act as they do on a server.
pytestmark = pytest.mark.django_db(transaction=True)


# Head only (no fine-tuning), so each training takes seconds.
TINY = {"backbone": "mobilenet_v3_small", "image_size": 32, "weights": "none", "epochs": 3, "batch_size": 8,
        "fine_tune_layers": 0}


def _version_files(version: ModelVersion) -> list[str]:
    folder = model_version_training_folder(version)
    return [name for name in stored_files() if name.startswith(f"{folder}/")]


@pytest.fixture
def dataset(user):
    return colours_dataset(user)


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
    real_epoch_end = JobObserver.on_epoch_end
    deleted = []

    def delete_after_first_epoch(self, epoch, phase, logs):
        real_epoch_end(self, epoch, phase, logs)
        if not deleted:
            deleted.append(epoch)
            model_version_delete(version=ModelVersion.objects.get(id=self.job.model_version_id))

    monkeypatch.setattr(JobObserver, "on_epoch_end", delete_after_first_epoch)
    model_version_create(dataset=dataset, requested_by=user, options={**TINY, "epochs": 5})

    assert deleted == [1]
    assert not ModelVersion.objects.exists() and not Job.objects.filter(kind=Job.Kind.TRAIN).exists()
    assert not [name for name in stored_files() if name.startswith("models/")]
    assert_no_orphan_files()
