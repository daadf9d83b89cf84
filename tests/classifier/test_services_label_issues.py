"""The label-issue job and the review: what the queue holds after a search, and that a search that is
cancelled, fails, crashes or loses its dataset leaves the queue as it was."""

import pytest
from django.core.exceptions import ValidationError

from classifier.job_summaries import label_issues_summary
from classifier.models import DatasetImage, LabelIssue
from classifier.services import label_issues
from classifier.services.datasets import dataset_delete
from classifier.services.images import image_add, image_relabel
from classifier.services.label_issues import (
    label_issue_delete_image,
    label_issue_keep,
    label_issue_relabel,
    label_issues_start,
)
from classifier.services.quotas import QuotaExceeded
from tests.classifier.label_issue_support import (
    COLOURS,
    augmented_copy,
    colours_dataset,
    png,
    use_mean_colour_backbone,
)
from tests.factories import DatasetFactory
from training_jobs import services as job_services
from training_jobs.models import Job
from training_jobs.reaper import jobs_reap
from training_jobs.runner import job_run
from training_jobs.services import job_cancel, job_create

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


def _open(dataset) -> list[LabelIssue]:
    return list(LabelIssue.objects.filter(dataset=dataset, status=LabelIssue.Status.OPEN))


def _old_issue(dataset) -> LabelIssue:
    """An issue an earlier search left open, on a green picture."""
    image = DatasetImage.objects.filter(dataset=dataset, label__name="green").first()
    return LabelIssue.objects.create(dataset=dataset, image=image, given_label=image.label, score=0.5)


def test_a_search_queues_the_planted_mistakes_first_with_their_true_class_suggested(user, planted, backbone):
    dataset, wrong = planted

    job = label_issues_start(dataset=dataset, requested_by=user)

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.kind == Job.Kind.LABEL_ISSUES
    # No active version: the backbone and size a default training would use, so its features are shared.
    assert (job.params["backbone"], job.params["image_size"], job.params["weights"]) == (
        "efficientnet_lite0", 96, "imagenet"
    )
    issues = list(LabelIssue.objects.filter(dataset=dataset).order_by("-score"))
    assert {issue.image_id for issue in issues[:2]} == {image.id for image in wrong}
    for issue in issues[:2]:
        assert (issue.given_label.name, issue.suggested_label.name, issue.status) == ("blue", "red", "open")
        assert issue.suggested_probability > 0.5 > issue.given_probability
        assert issue.job_id == job.id
    assert len(issues) <= 4  # the right labels are not queued
    assert job.report["images"] == 26 and job.report["queued"] == len(issues)
    assert sum(backbone.batches) == 26
    facts = {fact["label"]: fact for fact in label_issues_summary(job)}
    assert facts["Likely label issues"]["text"] == f"{len(issues)} to review"
    assert facts["Likely label issues"]["url"] == f"/datasets/{dataset.id}/label-issues/"


def test_features_come_from_the_cache_on_the_next_search(user, planted, backbone):
    dataset, _wrong = planted
    label_issues_start(dataset=dataset, requested_by=user)
    computed = sum(backbone.batches)
    image_add(dataset=dataset, content=png(COLOURS["green"], 999), filename="new.png", label_name="green",
              origin="upload")

    job = label_issues_start(dataset=dataset, requested_by=user)

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert sum(backbone.batches) - computed == 1  # only the new picture went through the backbone


def test_a_new_search_replaces_the_open_issues(user, planted, backbone):
    dataset, wrong = planted
    old = _old_issue(dataset)
    label_issues_start(dataset=dataset, requested_by=user)
    assert not LabelIssue.objects.filter(id=old.id).exists()
    assert {image.id for image in wrong} <= {issue.image_id for issue in _open(dataset)}


def test_a_cancelled_search_leaves_the_queue_as_it_was(user, planted, backbone, monkeypatch):
    dataset, _wrong = planted
    old = _old_issue(dataset)
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
    assert [issue.id for issue in _open(dataset)] == [old.id]


def test_a_search_whose_result_cannot_be_saved_fails_and_leaves_the_queue_as_it_was(
    user, planted, backbone, monkeypatch
):
    dataset, _wrong = planted
    old = _old_issue(dataset)
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
    assert {image.id for image in wrong} <= {issue.image_id for issue in _open(dataset)}


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


def test_a_kept_image_is_not_asked_about_again_while_it_keeps_its_label(user, planted, backbone):
    dataset, wrong = planted
    label_issues_start(dataset=dataset, requested_by=user)
    kept = label_issue_keep(issue=LabelIssue.objects.get(image=wrong[0]))
    assert kept.reviewed_at is not None

    job = label_issues_start(dataset=dataset, requested_by=user)

    job.refresh_from_db()
    assert job.report["kept_before"] == 1
    kept.refresh_from_db()
    assert kept.status == LabelIssue.Status.KEPT and kept.job_id != job.id
    assert LabelIssue.objects.get(image=wrong[1]).status == LabelIssue.Status.OPEN


def test_relabel_to_the_suggestion_or_a_named_class_and_the_issue_goes(user, planted, backbone):
    dataset, wrong = planted
    label_issues_start(dataset=dataset, requested_by=user)
    first, second = (LabelIssue.objects.get(image=image) for image in wrong)
    DatasetImage.objects.filter(id=wrong[0].id).update(split=DatasetImage.Split.TRAIN)
    copy = augmented_copy(DatasetImage.objects.get(id=wrong[0].id), seed=5000)

    image = label_issue_relabel(issue=first)
    label_issue_relabel(issue=second, label_name="green")

    assert image.label.name == "red"
    copy.refresh_from_db()
    assert copy.label.name == "red"  # augmented copies follow their source
    assert DatasetImage.objects.get(id=wrong[1].id).label.name == "green"
    assert not LabelIssue.objects.filter(id__in=[first.id, second.id]).exists()


def test_keep_and_delete_from_the_queue(user, planted, backbone):
    dataset, wrong = planted
    label_issues_start(dataset=dataset, requested_by=user)
    first, second = (LabelIssue.objects.get(image=image) for image in wrong)

    label_issue_keep(issue=first)
    label_issue_delete_image(issue=second)

    assert LabelIssue.objects.get(id=first.id).status == LabelIssue.Status.KEPT
    assert not DatasetImage.objects.filter(id=wrong[1].id).exists()
    assert not LabelIssue.objects.filter(id=second.id).exists()


def test_relabelling_drops_an_open_issue_and_a_kept_one_only_when_the_label_changes(user, planted):
    dataset, planted_wrong = planted
    third = DatasetImage.objects.filter(dataset=dataset).exclude(id__in=[image.id for image in planted_wrong]).first()
    wrong = [*planted_wrong, third]
    labels = {image.id: image.label for image in wrong}
    open_issue = LabelIssue.objects.create(dataset=dataset, image=wrong[0], given_label=labels[wrong[0].id], score=0.9)
    kept_same, kept_changed = (
        LabelIssue.objects.create(
            dataset=dataset, image=image, given_label=labels[image.id], score=0.8, status=LabelIssue.Status.KEPT
        )
        for image in wrong[1:3]
    )
    other = next(name for name in ("red", "green", "blue") if name != labels[wrong[2].id].name)

    image_relabel(image=wrong[0], label_name="red")
    image_relabel(image=wrong[1], label_name=labels[wrong[1].id].name)
    image_relabel(image=wrong[2], label_name=other)

    assert not LabelIssue.objects.filter(id=open_issue.id).exists()
    # Kept with the label it still has: not asked again. Kept with a label it no longer has: gone.
    assert LabelIssue.objects.filter(id=kept_same.id).exists()
    assert not LabelIssue.objects.filter(id=kept_changed.id).exists()


def test_relabel_without_a_suggestion_asks_for_a_class(user, planted):
    dataset, wrong = planted
    issue = LabelIssue.objects.create(dataset=dataset, image=wrong[0], given_label=wrong[0].label, score=0.9)
    with pytest.raises(ValidationError, match="name the class"):
        label_issue_relabel(issue=issue)
    assert LabelIssue.objects.filter(id=issue.id).exists()


@pytest.mark.parametrize(
    ("counts", "expected"),
    [({}, "this dataset has 0"), ({"red": 10}, "has 1"), ({"red": 10, "blue": 2}, r"Too few images: blue \(2\)")],
)
def test_too_few_classes_or_images_are_refused_with_no_job(user, counts, expected):
    dataset = DatasetFactory(owner=user)
    seed = 0
    for label, count in counts.items():
        for _ in range(count):
            seed += 1
            image_add(dataset=dataset, content=png(COLOURS[label], seed), filename=f"{seed}.png", label_name=label,
                      origin="upload")
    with pytest.raises(ValidationError, match=expected):
        label_issues_start(dataset=dataset, requested_by=user)
    assert not Job.objects.exists()


def test_augmented_copies_are_neither_judged_nor_counted(user, backbone):
    dataset, _wrong = colours_dataset(user, per_class=3, planted=0)
    source = DatasetImage.objects.filter(dataset=dataset, label__name="red", split=DatasetImage.Split.TRAIN).first()
    augmented_copy(source, seed=77)
    job = label_issues_start(dataset=dataset, requested_by=user)
    job.refresh_from_db()
    assert job.report["images"] == 9


def test_the_search_counts_as_a_training_worker_job_against_the_quota(user, planted, settings):
    dataset, _wrong = planted
    settings.SIGHTLINE_QUOTA_ACTIVE_GPU_JOBS = 1
    job_create(kind=Job.Kind.TRAIN, requested_by=user, dataset=dataset)  # queued, waiting for the worker

    with pytest.raises(QuotaExceeded) as refused:
        label_issues_start(dataset=dataset, requested_by=user)

    assert refused.value.quota == "active_gpu_jobs"
    assert not Job.objects.filter(kind=Job.Kind.LABEL_ISSUES).exists()


def test_a_search_through_the_real_backbone_fills_the_feature_cache_training_reads(user, settings):
    dataset, wrong = colours_dataset(user, per_class=5, planted=1)

    job = label_issues_start(dataset=dataset, requested_by=user)

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    # The keys training uses for the pooled features of the original pictures.
    cached = list((settings.SIGHTLINE_FEATURE_CACHE_DIR / "efficientnet_lite0" / "imagenet" / "96" / "original").rglob(
        "*.npy"
    ))
    assert len(cached) == 16
    assert LabelIssue.objects.filter(dataset=dataset).order_by("-score").first().image_id == wrong[0].id


def test_a_second_search_while_one_waits_is_refused(user, planted):
    dataset, _wrong = planted
    job_create(kind=Job.Kind.LABEL_ISSUES, requested_by=user, dataset=dataset)  # queued, no worker yet
    with pytest.raises(ValidationError, match="already being looked for"):
        label_issues_start(dataset=dataset, requested_by=user)
    assert Job.objects.filter(kind=Job.Kind.LABEL_ISSUES).count() == 1
