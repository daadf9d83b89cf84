"""The label-issue queue in the API: start, list, keep, relabel, delete; owners only change it."""

import pytest

from classifier.models import DatasetImage, LabelClass, LabelIssue
from tests.classifier.label_issue_support import colours_dataset
from tests.factories import DatasetFactory
from training_jobs.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture
def planted(user):
    return colours_dataset(user, per_class=4, planted=2)


def _issues(dataset, wrong) -> list[LabelIssue]:
    """Two open issues as a search would leave them (red pictures labelled blue), and a kept one."""
    red = LabelClass.objects.get(dataset=dataset, name="red")
    made = [
        LabelIssue.objects.create(
            dataset=dataset, image=image, given_label=image.label, suggested_label=red, score=score,
            given_probability=1 - score, suggested_probability=score,
        )
        for image, score in zip(wrong, (0.7, 0.9), strict=True)
    ]
    green = DatasetImage.objects.filter(dataset=dataset, label__name="green").first()
    made.append(
        LabelIssue.objects.create(dataset=dataset, image=green, given_label=green.label, suggested_label=red,
                                  score=0.95, status=LabelIssue.Status.KEPT)
    )
    return made


def test_start_answers_202_with_the_job(user_api, planted):
    dataset, _wrong = planted
    response = user_api.post(f"/api/v1/datasets/{dataset.id}/label-issues/")
    assert response.status_code == 202, response.content
    job = Job.objects.get(id=response.json()["job"]["id"])
    assert (job.kind, job.dataset_id) == ("label_issues", dataset.id)


def test_too_few_images_is_a_400_naming_what_is_missing_and_no_job(user_api, user):
    dataset, _wrong = colours_dataset(user, per_class=2, planted=0)
    response = user_api.post(f"/api/v1/datasets/{dataset.id}/label-issues/")
    assert response.status_code == 400
    assert "at least 2 classes with at least 3 labelled images" in response.json()["dataset"][0]
    assert not Job.objects.exists()


def test_the_list_is_most_suspicious_first_open_by_default(user_api, planted):
    dataset, wrong = planted
    first, second, kept = _issues(dataset, wrong)

    body = user_api.get(f"/api/v1/datasets/{dataset.id}/label-issues/").json()

    assert body["count"] == 2
    assert [row["id"] for row in body["results"]] == [second.id, first.id]
    row = body["results"][0]
    assert set(row) >= {"id", "image", "thumbnail_url", "given_label", "suggested_label", "score", "status"}
    assert (row["image"], row["given_label"], row["suggested_label"], row["status"]) == (
        wrong[1].id, "blue", "red", "open"
    )
    assert row["thumbnail_url"].endswith(f"/images/{wrong[1].id}/thumbnail/")
    kept_rows = user_api.get(f"/api/v1/datasets/{dataset.id}/label-issues/?status=kept").json()["results"]
    assert [row["id"] for row in kept_rows] == [kept.id]
    assert user_api.get(f"/api/v1/datasets/{dataset.id}/label-issues/?status=maybe").status_code == 400


def test_keep_takes_the_issue_out_of_the_queue(user_api, planted):
    dataset, wrong = planted
    first, _second, _kept = _issues(dataset, wrong)
    response = user_api.post(f"/api/v1/label-issues/{first.id}/keep/")
    assert response.status_code == 200
    assert response.json()["status"] == "kept"
    first.refresh_from_db()
    assert first.status == "kept" and first.reviewed_at is not None
    open_ids = [row["id"] for row in user_api.get(f"/api/v1/datasets/{dataset.id}/label-issues/").json()["results"]]
    assert first.id not in open_ids


def test_relabel_defaults_to_the_suggestion_or_takes_a_class(user_api, planted):
    dataset, wrong = planted
    first, second, _kept = _issues(dataset, wrong)

    response = user_api.post(f"/api/v1/label-issues/{first.id}/relabel/", {}, format="json")
    assert response.status_code == 200
    assert response.json()["label"] == "red"
    response = user_api.post(f"/api/v1/label-issues/{second.id}/relabel/", {"label": "green"}, format="json")
    assert response.json()["label"] == "green"

    assert [image.label.name for image in DatasetImage.objects.filter(id__in=[w.id for w in wrong]).order_by("id")] == [
        "red", "green"
    ]
    assert not LabelIssue.objects.filter(id__in=[first.id, second.id]).exists()


def test_delete_removes_the_image_and_its_issue(user_api, planted):
    dataset, wrong = planted
    first, _second, _kept = _issues(dataset, wrong)
    assert user_api.delete(f"/api/v1/label-issues/{first.id}/").status_code == 204
    assert not DatasetImage.objects.filter(id=wrong[0].id).exists()
    assert not LabelIssue.objects.filter(id=first.id).exists()


def test_deleting_the_image_through_the_images_api_removes_its_issue(user_api, planted):
    dataset, wrong = planted
    first, _second, _kept = _issues(dataset, wrong)
    assert user_api.delete(f"/api/v1/images/{wrong[0].id}/").status_code == 204
    assert not LabelIssue.objects.filter(id=first.id).exists()


def test_another_user_gets_404_everywhere_and_changes_nothing(other_api, planted):
    dataset, wrong = planted
    first, _second, _kept = _issues(dataset, wrong)
    assert other_api.get(f"/api/v1/datasets/{dataset.id}/label-issues/").status_code == 404
    assert other_api.post(f"/api/v1/datasets/{dataset.id}/label-issues/").status_code == 404
    assert other_api.get(f"/api/v1/label-issues/{first.id}/").status_code == 404
    for action in ("keep/", "relabel/"):
        assert other_api.post(f"/api/v1/label-issues/{first.id}/{action}", {}, format="json").status_code == 404
    assert other_api.delete(f"/api/v1/label-issues/{first.id}/").status_code == 404
    first.refresh_from_db()
    assert first.status == "open"
    assert DatasetImage.objects.get(id=wrong[0].id).label.name == "blue"
    assert not Job.objects.exists()


def test_a_public_dataset_queue_is_readable_but_only_its_owner_changes_it(other_api, planted):
    dataset, wrong = planted
    dataset.is_public = True
    dataset.save(update_fields=["is_public"])
    first, _second, _kept = _issues(dataset, wrong)
    assert other_api.get(f"/api/v1/datasets/{dataset.id}/label-issues/").json()["count"] == 2
    assert other_api.post(f"/api/v1/datasets/{dataset.id}/label-issues/").status_code == 403
    assert other_api.post(f"/api/v1/label-issues/{first.id}/keep/").status_code == 403
    assert other_api.delete(f"/api/v1/label-issues/{first.id}/").status_code == 403
    first.refresh_from_db()
    assert first.status == "open"
    assert DatasetImage.objects.filter(id=wrong[0].id).exists()


def test_staff_review_any_queue(staff_api, planted):
    dataset, wrong = planted
    first, _second, _kept = _issues(dataset, wrong)
    assert staff_api.post(f"/api/v1/label-issues/{first.id}/keep/").status_code == 200


def test_an_empty_dataset_answers_an_empty_queue(user_api, user):
    dataset = DatasetFactory(owner=user)
    assert user_api.get(f"/api/v1/datasets/{dataset.id}/label-issues/").json()["count"] == 0
