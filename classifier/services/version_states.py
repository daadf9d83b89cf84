"""A model version's status follows its training job, always.

``ready`` only if the job succeeded (set in the job's final transaction, ``training._version_ready``);
``failed`` or ``cancelled`` when the job ended so (set here, in the transaction that ends the job); never
``queued`` or ``training`` once the job is terminal. The reaper runs ``model_versions_reconcile`` to
repair any row that disagrees anyway (written by an older release, or by hand).
"""

from django.db.models import Q

from classifier.models import ModelVersion
from classifier.services.checkpoints import StoredCheckpoints
from training_jobs.models import Job
from webapp.storage import stored_folder_delete

_UNFINISHED = (ModelVersion.Status.QUEUED, ModelVersion.Status.TRAINING)
_ENDED_AS: dict[str, str] = {
    Job.Status.FAILED: ModelVersion.Status.FAILED,
    Job.Status.CANCELLED: ModelVersion.Status.CANCELLED,
}


def model_version_follow_job(job: Job) -> None:
    """The training job's ``ended`` hook: a version whose job failed or was cancelled says so and
    does not serve."""
    status = _ENDED_AS.get(job.status)
    if status is None or job.model_version_id is None:
        return
    ModelVersion.objects.filter(id=job.model_version_id, status__in=_UNFINISHED).update(status=status, is_active=False)


def model_version_training_cleanup(job: Job) -> None:
    """The training job's ``cleanup`` hook: a ready version keeps its artifacts but not its
    checkpoints; a version that did not become ready (or is gone) keeps nothing."""
    folder = job.params.get("folder")
    if not folder:
        return
    version_id = job.model_version_id
    versions = ModelVersion.objects.filter(id=version_id) if version_id is not None else ModelVersion.objects.none()
    status = versions.values_list("status", flat=True).first()
    if status == ModelVersion.Status.READY:
        StoredCheckpoints(folder).delete()
    elif status is None or status not in _UNFINISHED:
        stored_folder_delete(folder=folder)


def model_versions_reconcile() -> int:
    """Repair versions whose status disagrees with their training job; returns how many were fixed.

    Versions without a training job (the installed ImageNet models) are left alone."""
    fixed = 0
    trains = Q(jobs__kind=Job.Kind.TRAIN)
    for job_status, status in _ENDED_AS.items():
        ended = ModelVersion.objects.filter(trains, jobs__status=job_status)
        fixed += ended.filter(status__in=_UNFINISHED).update(status=status, is_active=False)
        # Ready although its training did not succeed: it was never a finished model.
        fixed += ended.filter(status=ModelVersion.Status.READY).update(status=status, is_active=False)
    succeeded = ModelVersion.objects.filter(trains, jobs__status=Job.Status.SUCCEEDED, status__in=_UNFINISHED)
    fixed += succeeded.update(status=ModelVersion.Status.FAILED, is_active=False)
    return fixed
