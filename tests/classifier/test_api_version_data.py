"""The API of what versions were trained on: the manifest download, the detail's ``data`` summary, and
``POST /api/v1/model-versions/score/`` with its permissions and bad input."""

import gzip
import io

import pandas as pd
import pytest

from classifier.models import DatasetImage
from tests.classifier.version_data import colour_test_split, manifest_for
from tests.factories import DatasetFactory, UserFactory
from tests.models import OTHER_CLASSES
from training_jobs.models import Job

pytestmark = pytest.mark.django_db

SCORE_URL = "/api/v1/model-versions/score/"


@pytest.fixture
def dataset(user):
    dataset = DatasetFactory(owner=user, name="Colours")
    colour_test_split(dataset)
    return dataset


@pytest.fixture
def versions(dataset, make_ready_version):
    first = manifest_for(make_ready_version(dataset, 1, is_active=True))
    return first, make_ready_version(dataset, 2, classes=OTHER_CLASSES)


def test_the_manifest_downloads_as_a_gzipped_csv_for_its_owner_only(user_api, other_api, versions):
    first, second = versions
    response = user_api.get(f"/api/v1/model-versions/{first.id}/manifest/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/gzip"
    assert 'filename="colours-v1-manifest.csv.gz"' in response["Content-Disposition"]
    frame = pd.read_csv(io.BytesIO(gzip.decompress(b"".join(response.streaming_content))))
    assert len(frame) == 7 and set(frame["split"]) == {"test"}
    assert other_api.get(f"/api/v1/model-versions/{first.id}/manifest/").status_code == 404
    missing = user_api.get(f"/api/v1/model-versions/{second.id}/manifest/")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Version 2 has no manifest: it was trained before manifests were kept."}


def test_the_detail_says_what_the_version_was_trained_on_and_what_changed_since(user_api, versions):
    first, second = versions
    DatasetImage.objects.filter(original_name="red0.png").delete()
    DatasetImage.objects.filter(original_name="green0.png").update(split="train")

    data = user_api.get(f"/api/v1/model-versions/{first.id}/").json()["data"]

    assert data == {"splits": {"train": 0, "val": 0, "test": 7}, "drift": {"relabelled": 0, "moved": 1, "deleted": 1}}
    assert user_api.get(f"/api/v1/model-versions/{second.id}/").json()["data"] is None


def test_scoring_two_versions_answers_202_and_the_job_report_holds_both(
    user_api, versions, django_capture_on_commit_callbacks
):
    first, second = versions
    with django_capture_on_commit_callbacks(execute=True):
        response = user_api.post(SCORE_URL, {"model_versions": [first.id, second.id]}, format="json")

    assert response.status_code == 202, response.json()
    job = Job.objects.get(id=response.json()["job"]["id"])
    assert (job.kind, job.status) == (Job.Kind.SCORE, Job.Status.SUCCEEDED)
    report = user_api.get(f"/api/v1/jobs/{job.id}/").json()["report"]
    assert [(r["number"], r["scored"], r["skipped"]) for r in report["results"]] == [(1, 7, 0), (2, 5, 2)]
    assert report["results"][0]["accuracy"] == pytest.approx(6 / 7)


def test_scoring_on_a_manifest_test_set(user_api, versions, django_capture_on_commit_callbacks):
    first, second = versions
    DatasetImage.objects.filter(original_name="blue0.png").delete()
    with django_capture_on_commit_callbacks(execute=True):
        response = user_api.post(
            SCORE_URL, {"model_versions": [second.id], "test_set": f"manifest:{first.id}"}, format="json"
        )

    assert response.status_code == 202, response.json()
    job = Job.objects.get(id=response.json()["job"]["id"])
    assert job.report["test_set"] == "manifest"
    assert job.report["results"][0]["missing"] == 1


def test_bad_score_requests_are_400_naming_the_problem_and_start_nothing(
    user_api, user, versions, make_ready_version
):
    first, second = versions
    stranger = make_ready_version(DatasetFactory(owner=UserFactory(username="stranger"), name="Theirs"), 1)
    elsewhere = make_ready_version(DatasetFactory(owner=user, name="Elsewhere"), 1)
    queued = make_ready_version(first.dataset, 3, status="queued")
    cases = [
        ({}, "model_versions", "required"),
        ({"model_versions": []}, "model_versions", "empty"),
        ({"model_versions": "1"}, "model_versions", "list"),
        ({"model_versions": [first.id, stranger.id]}, "model_versions", f"No model version {stranger.id} that"),
        ({"model_versions": [first.id, elsewhere.id]}, "model_versions", "different datasets"),
        ({"model_versions": [first.id, queued.id]}, "model_versions", "is queued, not ready"),
        ({"model_versions": [first.id], "test_set": "yesterday"}, "test_set", 'Use "current" or "manifest:'),
        ({"model_versions": [first.id], "test_set": f"manifest:{second.id}"}, "test_set", "has no manifest"),
        ({"model_versions": [first.id], "test_set": f"manifest:{stranger.id}"}, "test_set", "No model version"),
    ]
    for body, field, text in cases:
        response = user_api.post(SCORE_URL, body, format="json")
        assert response.status_code == 400, (body, response.json())
        assert text in " ".join(response.json()[field]), (body, response.json())
    assert not Job.objects.exists()


def test_public_versions_can_be_scored_by_anyone_and_the_quota_is_a_429(
    other_api, other_user, make_ready_version, settings
):
    public = DatasetFactory(owner=UserFactory(username="sightline"), name="ImageNet-1k", is_public=True)
    version = make_ready_version(public, 1)

    assert other_api.post(SCORE_URL, {"model_versions": [version.id]}, format="json").status_code == 202
    settings.SIGHTLINE_QUOTA_ACTIVE_JOBS = 1
    refused = other_api.post(SCORE_URL, {"model_versions": [version.id]}, format="json")
    assert refused.status_code == 429
    assert refused.json()["quota"] == "active_jobs"
    assert Job.objects.filter(requested_by=other_user).count() == 1


def test_signed_out_clients_are_refused(api_client, versions):
    first, _second = versions
    assert api_client.post(SCORE_URL, {"model_versions": [first.id]}, format="json").status_code in (401, 403)
    assert api_client.get(f"/api/v1/model-versions/{first.id}/manifest/").status_code in (401, 403)
