"""A label-issue search that is cancelled, fails, crashes or loses its dataset or images leaves the queue
as it was."""

import pytest

from classifier.models import DatasetImage, LabelIssue
from classifier.services import label_issues
from classifier.services.datasets import dataset_delete
from classifier.services.images import image_relabel
from classifier.services.label_issues import label_issues_start
from tests.classifier.label_issue_support import colours_dataset, old_issue, open_issues, use_mean_colour_backbone
from training_jobs import services as job_services
from training_jobs.models import Job
from training_jobs.reaper import jobs_reap
from training_jobs.runner import job_run
from training_jobs.services import job_cancel

# Real commits: the job runs as the worker runs it, its end in its own transaction.
pytestmark = pytest.mark.django_db(transaction=True)


class WorkerLost(BaseException):
    """Stands in for SIGKILL: nothing after the line that raises it runs."""


@pytest.fixture
def backbone(monkeypatch):
    return use_mean_colour_backbone(monkeypatch)


@pytest.fixture
def planted(user):
    return colours_dataset(user)


def test_a_cancelled_search_leaves_the_queue_as_it_was(user, planted, backbone, monkeypatch):
    dataset, _wrong = planted
    old = old_issue(dataset)
    monkeypatch.setattr(label_issues, "BATCH_SIZE", 4)
    real_progress = job_services.ProgressReporter.__call__

    def cancel_after_the_first_batch(self, progress, message="", **options):
        if message.startswith("Features of 4 of"):
            job_cancel(job=Job.objects.get(id=self.job_id))
        return real_progress(self, progress, message, **options)

    monkeypatch.setattr(job_services.ProgressReporter, "__call__", cancel_after_the_first_batch)

    job = label_issues_start(dataset=dataset, requested_by=user)

    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    assert sum(backbone.batches) == 4  # the cancel is seen right after that batch: no other starts
    assert [issue.id for issue in open_issues(dataset)] == [old.id]


def test_a_search_whose_result_cannot_be_saved_fails_and_leaves_the_queue_as_it_was(
    user, planted, backbone, monkeypatch
):
    dataset, _wrong = planted
    old = old_issue(dataset)
    real_replace = label_issues.label_issues_replace

    def replace_then_break(**kwargs):
        real_replace(**kwargs)  # the old issues are deleted, the new written…
        raise RuntimeError("database went away")  # …and the transaction rolls back

    monkeypatch.setattr(label_issues, "label_issues_replace", replace_then_break)

    job = label_issues_start(dataset=dataset, requested_by=user)

    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "database went away" in job.error
    assert list(LabelIssue.objects.filter(dataset=dataset)) == [old]


def test_a_search_resumed_after_a_lost_worker_recomputes_only_what_was_not_cached(
    user, planted, backbone, monkeypatch
):
    dataset, wrong = planted
    monkeypatch.setattr(label_issues, "BATCH_SIZE", 4)
    real_progress = job_services.ProgressReporter.__call__

    def lose_the_worker(self, progress, message="", **options):
        if message.startswith("Features of 12 of") and Job.objects.get(id=self.job_id).attempts == 1:
            raise WorkerLost()
        return real_progress(self, progress, message, **options)

    monkeypatch.setattr(job_services.ProgressReporter, "__call__", lose_the_worker)
    with monkeypatch.context() as no_broker:
        no_broker.setattr("training_jobs.services.job_send", lambda job_id: True)
        job = label_issues_start(dataset=dataset, requested_by=user)
    with pytest.raises(WorkerLost):
        job_run(job_id=job.id)
    assert not LabelIssue.objects.exists()
    Job.objects.filter(id=job.id).update(heartbeat_at=job.created_at.replace(year=2000))

    assert jobs_reap()["resumed"] == 1  # a new worker takes it (inline here)

    job.refresh_from_db()
    assert (job.status, job.attempts) == ("succeeded", 2)
    assert sum(backbone.batches) == 26  # 12 before the loss, the other 14 after: none twice
    assert {image.id for image in wrong} <= {issue.image_id for issue in open_issues(dataset)}


def test_a_dataset_deleted_during_the_search_leaves_no_rows(user, planted, backbone, monkeypatch):
    dataset, _wrong = planted
    monkeypatch.setattr(label_issues, "BATCH_SIZE", 4)
    real_progress = job_services.ProgressReporter.__call__

    def delete_the_dataset(self, progress, message="", **options):
        if message.startswith("Features of 4 of"):
            dataset_delete(dataset=dataset)
        return real_progress(self, progress, message, **options)

    monkeypatch.setattr(job_services.ProgressReporter, "__call__", delete_the_dataset)

    label_issues_start(dataset=dataset, requested_by=user)

    assert not Job.objects.exists()
    assert not LabelIssue.objects.exists()
    assert sum(backbone.batches) == 4


def test_an_image_relabelled_or_deleted_during_the_search_is_left_out(user, planted, backbone, monkeypatch):
    dataset, wrong = planted
    real_cross_validate = label_issues.ml.out_of_sample_probabilities

    def user_fixes_one_meanwhile(*args, **kwargs):
        image_relabel(image=DatasetImage.objects.get(id=wrong[0].id), label_name="red")
        DatasetImage.objects.filter(id=wrong[1].id).delete()
        return real_cross_validate(*args, **kwargs)

    monkeypatch.setattr(label_issues.ml, "out_of_sample_probabilities", user_fixes_one_meanwhile)

    job = label_issues_start(dataset=dataset, requested_by=user)

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert not LabelIssue.objects.filter(image_id__in=[image.id for image in wrong]).exists()
