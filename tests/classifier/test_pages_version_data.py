"""Pages: the version page says what the version was trained on and what changed since; compare scores
both versions on the current test split and shows the two accuracies side by side."""

import pytest
from django.urls import reverse

from classifier.models import DatasetImage, LabelClass
from tests.classifier.version_data import colour_test_split, manifest_for
from tests.factories import DatasetFactory, UserFactory
from tests.models import OTHER_CLASSES
from training_jobs.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(user):
    dataset = DatasetFactory(owner=user, name="Colours")
    colour_test_split(dataset)
    return dataset


@pytest.fixture
def versions(dataset, make_ready_version):
    first = manifest_for(make_ready_version(dataset, 1, is_active=True))
    return first, make_ready_version(dataset, 2, classes=OTHER_CLASSES)


def _compare(a, b) -> str:
    return f"{reverse('classifier:model-version-compare')}?a={a.pk}&b={b.pk}"


def test_the_version_page_says_what_it_was_trained_on_with_the_manifest_link(user_client, dataset, versions):
    first, second = versions
    wrong = DatasetImage.objects.get(original_name="wrong0.png")
    wrong.label = LabelClass.objects.get(dataset=dataset, name="red")
    wrong.save()
    DatasetImage.objects.filter(original_name="red0.png").delete()

    text = user_client.get(reverse("classifier:model-version-detail", args=[first.pk])).content.decode()

    assert "Trained on 0/0/7 images (train/validation/test); since then 1 relabelled, 1 deleted." in text
    assert f'href="/api/v1/model-versions/{first.pk}/manifest/"' in text
    other = user_client.get(reverse("classifier:model-version-detail", args=[second.pk])).content.decode()
    assert 'id="version-data"' not in other


def test_compare_scores_both_on_the_current_test_split_and_shows_both_accuracies(
    user_client, versions, django_capture_on_commit_callbacks
):
    first, second = versions
    page = user_client.get(_compare(first, second)).content.decode()
    assert "Score both on the current test split" in page

    with django_capture_on_commit_callbacks(execute=True):
        response = user_client.post(_compare(first, second))

    assert response.status_code == 302 and response.url == _compare(first, second)
    job = Job.objects.get(kind=Job.Kind.SCORE)
    assert job.status == Job.Status.SUCCEEDED, job.error
    page = user_client.get(response.url).content.decode()
    assert 'id="compare-scores-table"' in page
    assert "85.7%" in page and "80.0%" in page
    assert "on the 7 test images the dataset has now" in page
    # The same pair the other way round finds the same scoring.
    assert "85.7%" in user_client.get(_compare(second, first)).content.decode()


def test_compare_shows_a_running_scoring_with_its_progress(user_client, user, versions):
    first, second = versions
    job = Job.objects.create(
        kind=Job.Kind.SCORE,
        requested_by=user,
        dataset=first.dataset,
        status=Job.Status.RUNNING,
        progress=0.4,
        params={"model_versions": [second.id, first.id], "versions_key": f"{first.id},{second.id}",
                "test_set": "current", "manifest_version": None},
    )

    page = user_client.get(_compare(first, second)).content.decode()

    assert f"job #{job.pk}" in page and "40%" in page
    assert f'data-live-url="/api/v1/jobs/{job.pk}/"' in page
    assert 'http-equiv="refresh"' in page
    assert "compare-score-button" not in page, "one scoring of the pair at a time"


def test_compare_says_why_a_scoring_failed_and_offers_it_again(user_client, user, versions):
    first, second = versions
    Job.objects.create(
        kind=Job.Kind.SCORE, requested_by=user, dataset=first.dataset, status=Job.Status.FAILED,
        error="None of the versions could be scored", params={"versions_key": f"{first.id},{second.id}",
                                                              "test_set": "current"},
    )
    page = user_client.get(_compare(first, second)).content.decode()
    assert "failed: None of the versions could be scored" in page
    assert "compare-score-button" in page


def test_compare_score_refusals_are_shown_and_strangers_get_404(
    client, user_client, versions, make_ready_version, settings
):
    first, second = versions
    settings.SIGHTLINE_QUOTA_ACTIVE_JOBS = 1
    user_client.post(_compare(first, second))  # queued; its task never runs in this test's transaction
    refused = user_client.post(_compare(first, second), follow=True)
    assert "jobs queued or running" in refused.content.decode()
    assert Job.objects.count() == 1

    stranger = UserFactory(username="stranger")
    client.force_login(stranger)
    assert client.post(_compare(first, second)).status_code == 404
    assert Job.objects.count() == 1


def test_compare_offers_no_scoring_for_versions_of_different_datasets(user_client, user, versions, make_ready_version):
    first, _second = versions
    elsewhere = make_ready_version(DatasetFactory(owner=user, name="Elsewhere"), 1)
    page = user_client.get(_compare(first, elsewhere)).content.decode()
    assert "compare-score-button" not in page


def test_a_scoring_job_page_says_each_versions_score_in_words(
    user_client, versions, django_capture_on_commit_callbacks
):
    first, second = versions
    with django_capture_on_commit_callbacks(execute=True):
        user_client.post(_compare(first, second))
    job = Job.objects.get(kind=Job.Kind.SCORE)

    text = user_client.get(reverse("training_jobs:job-detail", args=[job.pk])).content.decode()

    assert "the dataset&#x27;s current test split (7 images)" in text
    assert "85.7% (6 of 7 right)" in text
    assert "80.0% (4 of 5 right, 2 skipped)" in text
    assert reverse("classifier:model-version-detail", args=[second.pk]) in text
