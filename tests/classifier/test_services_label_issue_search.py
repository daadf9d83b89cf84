"""The label-issue search: what the queue holds after one, the feature cache, and the searches refused
(too few classes or images, over the quota, one already waiting)."""

import pytest
from django.core.exceptions import ValidationError

from classifier.job_summaries import label_issues_summary
from classifier.models import DatasetImage, LabelIssue
from classifier.services.images import image_add
from classifier.services.label_issues import label_issues_start
from classifier.services.quotas import QuotaExceeded
from tests.classifier.label_issue_support import (
    COLOURS,
    augmented_copy,
    colours_dataset,
    old_issue,
    open_issues,
    png,
    use_mean_colour_backbone,
)
from tests.factories import DatasetFactory
from training_jobs.models import Job
from training_jobs.services import job_create

# Real commits: the job runs as the worker runs it, its end in its own transaction.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def backbone(monkeypatch):
    return use_mean_colour_backbone(monkeypatch)


@pytest.fixture
def planted(user):
    return colours_dataset(user)


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
    old = old_issue(dataset)
    label_issues_start(dataset=dataset, requested_by=user)
    assert not LabelIssue.objects.filter(id=old.id).exists()
    assert {image.id for image in wrong} <= {issue.image_id for issue in open_issues(dataset)}


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
