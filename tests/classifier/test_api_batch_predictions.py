"""Predictions API: batch predictions of a ZIP and their CSV.

The models are tiny real TFLite colour classifiers (see conftest); tasks run eagerly on commit.
"""

import csv
import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from classifier.models import ModelVersion
from tests.classifier.prediction_api_support import RED
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db


# Batch predictions


def _zip(members: dict[str, bytes]) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return SimpleUploadedFile("photos.zip", buffer.getvalue(), content_type="application/zip")


def test_a_batch_prediction_links_its_csv(user_api, other_api, version, django_capture_on_commit_callbacks):
    archive = _zip({"a/red.png": image_bytes(color=RED, fmt="PNG"), "b.txt": b"nope"})

    with django_capture_on_commit_callbacks(execute=True):
        response = user_api.post(
            f"/api/v1/model-versions/{version.id}/batch-predictions/", {"archive": archive}, format="multipart"
        )

    assert response.status_code == 202
    queued = response.json()["job"]
    assert (queued["kind"], queued["status"], queued["model_version"]) == ("batch_predict", "queued", version.id)
    job = user_api.get(f"/api/v1/jobs/{queued['id']}/").json()
    assert job["status"] == "succeeded"
    assert job["report"]["predicted"] == 1
    assert job["result_url"].endswith(f"/api/v1/jobs/{queued['id']}/result/")
    download = user_api.get(job["result_url"])
    assert download.status_code == 200
    assert download["Content-Type"].startswith("text/csv")
    assert "attachment" in download["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert [(row["filename"], row["label"], row["is_unknown"]) for row in rows] == [
        ("a/red.png", "red", "false"),
        ("b.txt", "", ""),
    ]
    assert "b.txt is not an image" in rows[1]["error"]
    assert other_api.get(job["result_url"]).status_code == 404


def test_a_job_without_a_result_has_no_download(user_api, user):
    from tests.factories import JobFactory

    job = JobFactory(requested_by=user)

    assert user_api.get(f"/api/v1/jobs/{job.id}/").json()["result_url"] is None
    assert user_api.get(f"/api/v1/jobs/{job.id}/result/").status_code == 404


@pytest.mark.parametrize(
    ("archive", "words"),
    [
        (SimpleUploadedFile("photos.zip", b"plain text"), "not a ZIP archive"),
        (None, "No file was submitted"),
    ],
)
def test_a_batch_needs_a_zip(user_api, version, archive, words):
    data = {"archive": archive} if archive is not None else {}

    response = user_api.post(f"/api/v1/model-versions/{version.id}/batch-predictions/", data, format="multipart")

    assert response.status_code == 400
    assert words in " ".join(response.json()["archive"])


def test_a_batch_with_a_version_that_is_not_ready_is_a_409(user_api, dataset, make_ready_version):
    failed = make_ready_version(dataset, status=ModelVersion.Status.FAILED)

    response = user_api.post(
        f"/api/v1/model-versions/{failed.id}/batch-predictions/", {"archive": _zip({"a.png": b"x"})}, format="multipart"
    )

    assert response.status_code == 409


def test_a_batch_with_another_users_version_is_a_404(other_api, version):
    response = other_api.post(
        f"/api/v1/model-versions/{version.id}/batch-predictions/",
        {"archive": _zip({"a.png": b"x"})},
        format="multipart",
    )

    assert response.status_code == 404
