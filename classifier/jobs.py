"""The classifier's job kinds, registered with the job engine when Django starts: what each runs, on
which queue, what follows its end, and the reaper's repairs of rows that follow a job."""

from classifier.job_summaries import (
    augmentation_summary,
    batch_prediction_summary,
    import_summary,
    label_issues_summary,
    score_summary,
    training_summary,
)
from classifier.services.augmentation import dataset_augment_run
from classifier.services.batch_predictions import batch_prediction_cleanup, batch_prediction_run
from classifier.services.imports import dataset_import_cleanup, dataset_import_run
from classifier.services.label_issues import label_issues_run
from classifier.services.prediction_queue import predictions_reap
from classifier.services.quotas import training_usage_settle
from classifier.services.scoring import model_versions_score_run
from classifier.services.training import model_version_train_run
from classifier.services.version_states import (
    model_version_follow_job,
    model_version_training_cleanup,
    model_versions_reconcile,
)
from training_jobs.kinds import JobKind, job_kind_register, reconciler_register
from training_jobs.models import Job


def _training_ended(job: Job) -> None:
    """In the transaction that ends a training job: its version follows it, and the minutes it ran are
    written down, so deleting the job later (with its version, its dataset, or in the admin) keeps them
    counted against the account's daily training minutes."""
    model_version_follow_job(job)
    training_usage_settle(jobs=Job.objects.filter(id=job.id))


def register() -> None:
    # Queues by cost (README, "Workers and queues"): "cpu" for imports, augmentation and exports; "inference"
    # for TFLite work (batch predictions, queued predictions, scoring), several at a time, so it never waits
    # behind a training; "gpu" alone for what runs the TensorFlow backbone (training, label issues).
    job_kind_register(
        JobKind(Job.Kind.IMPORT, "cpu", dataset_import_run, cleanup=dataset_import_cleanup, summary=import_summary)
    )
    job_kind_register(JobKind(Job.Kind.AUGMENT, "cpu", dataset_augment_run, summary=augmentation_summary))
    job_kind_register(
        JobKind(
            Job.Kind.TRAIN,
            "gpu",
            model_version_train_run,
            ended=_training_ended,
            cleanup=model_version_training_cleanup,
            summary=training_summary,
            report_counts=False,
        )
    )
    job_kind_register(
        JobKind(
            Job.Kind.BATCH_PREDICT,
            "inference",
            batch_prediction_run,
            cleanup=batch_prediction_cleanup,
            summary=batch_prediction_summary,
        )
    )
    job_kind_register(JobKind(Job.Kind.LABEL_ISSUES, "gpu", label_issues_run, summary=label_issues_summary))
    # TFLite only, like batch predictions: it answers through the versions' served models.
    job_kind_register(
        JobKind(Job.Kind.SCORE, "inference", model_versions_score_run, summary=score_summary, report_counts=False)
    )
    reconciler_register(model_versions_reconcile)
    reconciler_register(predictions_reap)
