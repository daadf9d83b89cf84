"""A version's status follows its training job: the hook at the job's end and the reaper's repair."""

import pytest

from classifier.models import ModelVersion
from classifier.services.version_states import model_versions_reconcile
from tests.factories import DatasetFactory, JobFactory
from tests.invariants import assert_versions_follow_their_jobs
from training_jobs.models import Job
from training_jobs.services import job_cancel, job_fail

pytestmark = pytest.mark.django_db


def _version_with_job(dataset, number, version_status, job_status, **fields):
    version = ModelVersion.objects.create(
        dataset=dataset, number=number, backbone="tiny", image_size=32, status=version_status, **fields
    )
    JobFactory(kind=Job.Kind.TRAIN, dataset=dataset, requested_by=dataset.owner, model_version=version,
               status=job_status, attempts=1)
    return version


@pytest.mark.parametrize(
    ("end", "expected"),
    [(lambda job: job_cancel(job=job), "cancelled"), (lambda job: job_fail(job_id=job.id, error="boom"), "failed")],
    ids=["cancelled", "failed"],
)
def test_a_training_version_ends_as_its_job_ends(user, end, expected):
    version = _version_with_job(DatasetFactory(owner=user), 1, "training", Job.Status.RUNNING)

    end(version.jobs.get())

    version.refresh_from_db()
    assert version.status == expected
    assert_versions_follow_their_jobs()


def test_the_reaper_repairs_versions_that_disagree_with_their_job(user):
    dataset = DatasetFactory(owner=user)
    stuck_failed = _version_with_job(dataset, 1, "training", Job.Status.FAILED)
    stuck_cancelled = _version_with_job(dataset, 2, "queued", Job.Status.CANCELLED)
    ready_but_cancelled = _version_with_job(dataset, 3, "ready", Job.Status.CANCELLED, is_active=True)
    succeeded_not_ready = _version_with_job(dataset, 4, "training", Job.Status.SUCCEEDED)
    running = _version_with_job(dataset, 5, "training", Job.Status.RUNNING)
    installed = ModelVersion.objects.create(dataset=dataset, number=6, backbone="tiny", image_size=32,
                                            status="training")

    assert model_versions_reconcile() == 4

    statuses = dict(ModelVersion.objects.values_list("id", "status"))
    assert statuses[stuck_failed.id] == "failed"
    assert statuses[stuck_cancelled.id] == "cancelled"
    assert statuses[ready_but_cancelled.id] == "cancelled"
    assert statuses[succeeded_not_ready.id] == "failed"
    assert statuses[running.id] == "training"
    assert statuses[installed.id] == "training", "a version without a training job is an install in progress"
    assert not ModelVersion.objects.filter(is_active=True).exists()
    assert model_versions_reconcile() == 0
