"""Job pages say what each job did in words and links: the version a training made (not a database id),
its score as a percentage, durations in seconds and minutes, an import's classes, augmentation's copies."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.classifier.version_pages_support import make_version
from tests.factories import DatasetFactory, JobFactory
from training_jobs.models import Job

pytestmark = pytest.mark.django_db


def _page(client, job: Job):
    return client.get(reverse("training_jobs:job-detail", args=[job.pk]))


@pytest.fixture
def dataset(user):
    return DatasetFactory(owner=user, name="Pets")


def test_a_training_job_names_its_version_and_score(user_client, dataset):
    make_version(dataset, 1)
    make_version(dataset, 2)
    third = make_version(dataset, 3)
    job = third.jobs.get()
    finished = timezone.now()
    job.report = {"model_version": third.pk, "accuracy": 0.7777777777777778, "best_epoch": 4}
    job.started_at, job.finished_at = finished - timedelta(seconds=42), finished
    job.save()

    page = _page(user_client, job)

    summary = {fact["label"]: fact for fact in page.context["summary"]}
    assert summary["Model version"]["text"] == "Pets v3"
    assert summary["Model version"]["url"] == reverse("classifier:model-version-detail", args=[third.pk])
    assert summary["Test accuracy"]["text"] == "77.8%"
    text = page.text
    assert "0.7777777777777778" not in text
    assert "Model version 6" not in text and f"Model version <strong>{third.pk}" not in text
    assert page.context["counts"] == []
    assert '<dd id="job-took">42 s</dd>' in text


def test_an_import_says_which_classes_it_filled(user_client, user, dataset):
    job = JobFactory(
        kind=Job.Kind.IMPORT, requested_by=user, dataset=dataset, status=Job.Status.SUCCEEDED,
        report={"imported": 3, "total": 4, "corrupt": 1, "classes": {"cat": 2, "dog": 1}, "rejected": []},
    )

    summary = {fact["label"]: fact for fact in _page(user_client, job).context["summary"]}

    assert summary["Imported"]["text"] == "3 of 4 files"
    assert summary["Into classes"]["text"] == "cat 2 · dog 1"
    assert summary["Images"]["url"].endswith("?tab=images")


def test_a_failed_import_that_stored_nothing_reads_as_a_failure(user_client, user, dataset):
    job = JobFactory(
        kind=Job.Kind.IMPORT, requested_by=user, dataset=dataset, status=Job.Status.FAILED,
        error="Nothing was imported: every file was refused (1 corrupt, 1 not image). The report lists each one.",
        report={"imported": 0, "total": 2, "corrupt": 1, "not_image": 1, "classes": {}, "rejected": []},
    )

    page = _page(user_client, job)

    assert "Why it failed" in page.text
    assert "Nothing was imported" in page.text
    assert "Images" not in {fact["label"] for fact in page.context["summary"]}


def test_augmentation_says_which_classes_got_copies(user_client, user, dataset):
    job = JobFactory(
        kind=Job.Kind.AUGMENT, requested_by=user, dataset=dataset, status=Job.Status.SUCCEEDED,
        params={"target_per_class": 10},
        report={"created": 9, "per_class": {"cat": 7, "dog": 2}, "planned": {"cat": 7, "dog": 2, "owl": 0}},
    )

    summary = {fact["label"]: fact["text"] for fact in _page(user_client, job).context["summary"]}

    assert summary["Copies made"] == "9 (cat +7 · dog +2)"
    assert summary["Already at the target"] == "owl"


def test_the_job_list_links_versions_and_says_how_long_jobs_took(user_client, dataset):
    version = make_version(dataset, 2)
    job = version.jobs.get()
    finished = timezone.now()
    job.started_at, job.finished_at = finished - timedelta(minutes=3, seconds=5), finished
    job.save()

    text = user_client.get(reverse("training_jobs:job-list")).text

    assert f'<a class="small" href="{reverse("classifier:model-version-detail", args=[version.pk])}">v2</a>' in text
    assert "3 min 5 s" in text
