"""Checks every lifecycle test ends with: each model version's status follows its training job, and
storage holds no file that no row references."""

from datetime import timedelta

from classifier.models import ModelVersion
from classifier.services.orphans import stored_orphans_find
from training_jobs.models import Job

FOLLOWS = {
    Job.Status.SUCCEEDED: {ModelVersion.Status.READY},
    Job.Status.FAILED: {ModelVersion.Status.FAILED},
    Job.Status.CANCELLED: {ModelVersion.Status.CANCELLED},
    Job.Status.QUEUED: {ModelVersion.Status.QUEUED, ModelVersion.Status.TRAINING},
    Job.Status.RUNNING: {ModelVersion.Status.QUEUED, ModelVersion.Status.TRAINING},
}


def assert_versions_follow_their_jobs() -> None:
    for version in ModelVersion.objects.all():
        job = Job.objects.filter(model_version=version, kind=Job.Kind.TRAIN).first()
        if job is None:
            continue  # an installed ImageNet model: no training job
        assert version.status in FOLLOWS[job.status], f"v{version.number} is {version.status}, its job {job.status}"
        if version.status != ModelVersion.Status.READY:
            assert not version.is_active, f"v{version.number} is {version.status} but active"


def assert_no_orphan_files() -> None:
    orphans = stored_orphans_find(min_age=timedelta(0))
    assert orphans == [], f"stored files no row references: {orphans}"
