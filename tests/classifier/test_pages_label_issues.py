"""The label-issue review page and the dataset page's card: plain form POSTs that work without a script."""

import pytest

from classifier.models import DatasetImage, LabelClass, LabelIssue
from tests.classifier.label_issue_support import colours_dataset
from training_jobs.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture
def planted(user):
    dataset, wrong = colours_dataset(user, per_class=4, planted=2)
    red = LabelClass.objects.get(dataset=dataset, name="red")
    issues = [
        LabelIssue.objects.create(dataset=dataset, image=image, given_label=image.label, suggested_label=red,
                                  score=score, given_probability=1 - score, suggested_probability=score)
        for image, score in zip(wrong, (0.7, 0.9), strict=True)
    ]
    return dataset, wrong, issues


def test_the_page_shows_each_issue_most_suspicious_first_with_its_forms(user_client, planted):
    dataset, wrong, (first, second) = planted
    page = user_client.get(f"/datasets/{dataset.id}/label-issues/").content.decode()
    assert page.index(f'id="issue-{second.id}"') < page.index(f'id="issue-{first.id}"')
    assert f"/images/{wrong[0].id}/thumbnail/" in page
    assert f"/images/{wrong[0].id}/file/" in page  # the larger picture, on click
    assert "Labelled <strong>blue</strong> (30%)" in page
    assert "Looks like <strong>red</strong> (70%)" in page
    for action in ("relabel", "keep", "delete"):
        assert f'action="/label-issues/{first.id}/{action}/"' in page
    assert page.count("csrfmiddlewaretoken") >= 7
    assert '<option value="red" selected>red</option>' in page


def test_the_page_is_paginated(user_client, planted, monkeypatch):
    dataset, _wrong, _issues = planted
    monkeypatch.setattr("classifier.views.label_issues.ISSUES_PER_PAGE", 1)
    page = user_client.get(f"/datasets/{dataset.id}/label-issues/?page=2").content.decode()
    assert "Page 2 of 2" in page


def test_relabel_keep_and_delete_from_the_page(user_client, planted):
    dataset, wrong, (first, second) = planted
    back = f"/datasets/{dataset.id}/label-issues/?page=1"

    response = user_client.post(f"/label-issues/{first.id}/relabel/", {"label": "green", "next": back})
    assert response.status_code == 302 and response["Location"] == back
    assert DatasetImage.objects.get(id=wrong[0].id).label.name == "green"
    assert not LabelIssue.objects.filter(id=first.id).exists()

    user_client.post(f"/label-issues/{second.id}/keep/", {"next": back})
    assert LabelIssue.objects.get(id=second.id).status == "kept"
    kept_page = user_client.get(f"/datasets/{dataset.id}/label-issues/?status=kept").content.decode()
    assert f'id="issue-{second.id}"' in kept_page

    user_client.post(f"/label-issues/{second.id}/delete/", {"next": back})
    assert not DatasetImage.objects.filter(id=wrong[1].id).exists()


def test_find_label_issues_starts_the_job_or_says_what_is_missing(user_client, user, planted):
    dataset, _wrong, _issues = planted
    response = user_client.post(f"/datasets/{dataset.id}/label-issues/start/")
    job = Job.objects.get(kind=Job.Kind.LABEL_ISSUES)
    assert response["Location"] == f"/jobs/{job.id}/"

    small, _none = colours_dataset(user, per_class=1, planted=0, name="tiny")
    response = user_client.post(f"/datasets/{small.id}/label-issues/start/", follow=True)
    assert "at least 2 classes with at least 3 labelled images" in response.content.decode()
    assert Job.objects.filter(kind=Job.Kind.LABEL_ISSUES).count() == 1


def test_the_dataset_page_has_the_card_with_the_open_count(user_client, planted):
    dataset, _wrong, _issues = planted
    page = user_client.get(f"/datasets/{dataset.id}/?tab=images").content.decode()
    assert 'id="label-issues-card"' in page
    assert "Review the queue (2 open)" in page
    assert f'action="/datasets/{dataset.id}/label-issues/start/"' in page


def test_another_user_gets_404_and_changes_nothing(client, other_user, planted):
    dataset, wrong, (first, _second) = planted
    client.force_login(other_user)
    assert client.get(f"/datasets/{dataset.id}/label-issues/").status_code == 404
    assert client.post(f"/datasets/{dataset.id}/label-issues/start/").status_code == 404
    for action in ("keep", "relabel", "delete"):
        assert client.post(f"/label-issues/{first.id}/{action}/", {"label": "green"}).status_code == 404
    assert LabelIssue.objects.get(id=first.id).status == "open"
    assert DatasetImage.objects.get(id=wrong[0].id).label.name == "blue"
    assert not Job.objects.exists()


def test_signed_out_visitors_are_sent_to_sign_in(client, planted):
    dataset, _wrong, _issues = planted
    response = client.get(f"/datasets/{dataset.id}/label-issues/")
    assert response.status_code == 302 and "login" in response["Location"]
