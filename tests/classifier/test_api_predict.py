"""Predictions API, answered now: by upload or URL, with a version or a dataset's active version, public
versions for everyone, and every bad input a 4xx naming the problem.

The models are tiny real TFLite colour classifiers (see conftest); tasks run eagerly on commit.
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from classifier.models import ModelVersion, Prediction
from tests.classifier.conftest import Route
from tests.classifier.prediction_api_support import BLUE, GREY, RED, png_upload, predict
from tests.factories import image_bytes
from tests.models import OTHER_CLASSES

pytestmark = pytest.mark.django_db


# Predict now


def test_predict_an_upload(user_api, user, version):
    response = predict(user_api, version, {"image": png_upload(RED)}, "?top_k=2")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "predictions",
        "is_unknown",
        "unknown_score",
        "model_version",
        "latency_ms",
        "answer",
        "prediction_id",
    }
    assert [row["label"] for row in body["predictions"]] == ["red", "green"]
    probabilities = [row["probability"] for row in body["predictions"]]
    assert probabilities == sorted(probabilities, reverse=True)
    assert (body["is_unknown"], body["model_version"]) == (False, version.id)
    assert body["latency_ms"] > 0
    assert body["answer"]["kind"] == "confident"
    assert body["answer"]["labels"] == ["red"]
    prediction = Prediction.objects.get(id=body["prediction_id"])
    assert (prediction.owner, prediction.model_version, prediction.status) == (user, version, "succeeded")


def test_all_probabilities_sum_to_one(user_api, version):
    body = predict(user_api, version, {"image": png_upload(BLUE)}, "?top_k=3").json()

    assert sum(row["probability"] for row in body["predictions"]) == pytest.approx(1.0, abs=1e-5)


def test_the_threshold_turns_one_answer_into_two(user_api, version):
    body = predict(user_api, version, {"image": png_upload(RED)}, "?threshold=0.999").json()

    assert body["answer"]["kind"] == "uncertain"
    assert body["answer"]["labels"] == ["red", "green"]


def test_an_unknown_image_is_flagged(user_api, version):
    body = predict(user_api, version, {"image": png_upload(GREY)}).json()

    assert body["is_unknown"] is True
    assert body["answer"]["kind"] == "unknown"


def test_predict_an_image_url(user_api, version, image_server):
    image_server.routes["/blue.png"] = Route(body=image_bytes(color=BLUE, fmt="PNG"))

    response = predict(user_api, version, {"url": image_server.url("/blue.png")})

    assert response.status_code == 200
    assert response.json()["predictions"][0]["label"] == "blue"
    prediction = Prediction.objects.get(id=response.json()["prediction_id"])
    assert prediction.source_url == image_server.url("/blue.png")


@pytest.mark.parametrize(
    ("data", "query", "field", "words"),
    [
        ({"image": SimpleUploadedFile("notes.txt", b"hello")}, "", "image", "notes.txt is not an image"),
        ({"image": SimpleUploadedFile("empty.png", b"")}, "", "image", "empty"),
        ({"url": "http://127.0.0.1/admin/"}, "", "url", "a loopback address"),
        ({"url": "http://169.254.169.254/latest/meta-data/"}, "", "url", "a link-local address"),
        ({"url": "file:///etc/passwd"}, "", "url", "Only http and https"),
        ({"image": None}, "?top_k=4", "top_k", "between 1 and 3"),
        ({"image": None}, "?top_k=0", "top_k", "between 1 and 3"),
        ({"image": None}, "?top_k=many", "top_k", "valid integer"),
        ({"image": None}, "?threshold=2", "threshold", "less than or equal to 1"),
        ({}, "", "image", "Send an image file"),
        ({"image": None, "url": "https://example.com/a.png"}, "", "url", "not both"),
    ],
)
def test_bad_input_is_a_400_naming_the_problem(user_api, version, data, query, field, words):
    data = {key: png_upload() if value is None else value for key, value in data.items()}
    fmt = "json" if set(data) == {"url"} or not data else "multipart"

    response = user_api.post(f"/api/v1/model-versions/{version.id}/predict/{query}", data, format=fmt)

    assert response.status_code == 400
    assert words in " ".join(response.json()[field])
    assert not Prediction.objects.exists()


def test_a_version_that_is_not_ready_is_a_409(user_api, dataset, make_ready_version):
    training = make_ready_version(dataset, status=ModelVersion.Status.TRAINING)

    response = predict(user_api, training, {"image": png_upload()})

    assert response.status_code == 409
    assert "not ready" in response.json()["detail"]


def test_another_users_version_is_a_404(other_api, version):
    assert predict(other_api, version, {"image": png_upload()}).status_code == 404


def test_predictions_need_a_signed_in_user(api_client, version):
    assert predict(api_client, version, {"image": png_upload()}).status_code in (401, 403)


# A dataset's active version


def test_predict_with_a_datasets_active_version(user_api, dataset, version, make_ready_version):
    make_ready_version(dataset, number=2, classes=OTHER_CLASSES)

    response = user_api.post(f"/api/v1/datasets/{dataset.id}/predict/", {"image": png_upload(BLUE)}, format="multipart")

    assert response.status_code == 200
    assert response.json()["model_version"] == version.id


def test_a_dataset_without_an_active_version_is_a_409(user_api, dataset, make_ready_version):
    make_ready_version(dataset, is_active=False)

    response = user_api.post(f"/api/v1/datasets/{dataset.id}/predict/", {"image": png_upload()}, format="multipart")

    assert response.status_code == 409
    assert "no active model version" in response.json()["detail"]


def test_another_users_dataset_is_a_404(other_api, dataset, version):
    response = other_api.post(f"/api/v1/datasets/{dataset.id}/predict/", {"image": png_upload()}, format="multipart")

    assert response.status_code == 404


# Public datasets


def test_a_public_version_is_usable_and_readable_by_everyone_but_changeable_by_none(
    other_api, other_user, public_version
):
    dataset_id = public_version.dataset_id

    by_version = predict(other_api, public_version, {"image": png_upload(RED)})
    by_dataset = other_api.post(f"/api/v1/datasets/{dataset_id}/predict/", {"image": png_upload()}, format="multipart")
    detail = other_api.get(f"/api/v1/model-versions/{public_version.id}/")

    assert (by_version.status_code, by_dataset.status_code, detail.status_code) == (200, 200, 200)
    assert Prediction.objects.get(id=by_version.json()["prediction_id"]).owner == other_user
    assert other_api.post(f"/api/v1/model-versions/{public_version.id}/promote/").status_code == 404
    assert other_api.post(f"/api/v1/model-versions/{public_version.id}/retrain/").status_code == 403
    assert other_api.delete(f"/api/v1/model-versions/{public_version.id}/").status_code == 404
    assert ModelVersion.objects.filter(id=public_version.id, is_active=True).exists()


def test_a_public_datasets_image_can_be_added_by_staff_only(other_api, staff_api, public_version):
    mine = predict(other_api, public_version, {"image": png_upload(RED)}).json()["prediction_id"]
    staffs = predict(staff_api, public_version, {"image": png_upload(BLUE)}).json()["prediction_id"]

    refused = other_api.post(f"/api/v1/predictions/{mine}/add-to-dataset/", {"label": "red"}, format="json")
    # ImageNet-1k's dataset holds no classes, only its versions' names: the first image of one starts it.
    added = staff_api.post(
        f"/api/v1/predictions/{staffs}/add-to-dataset/", {"label": "blue", "new_class": True}, format="json"
    )

    assert refused.status_code == 403
    assert "only staff" in refused.json()["detail"]
    assert added.status_code == 201


def test_without_a_threshold_the_answer_uses_the_versions_own(user_api, dataset, make_ready_version):
    # The ready ImageNet models store a lower threshold; the colour models give this greyish red about 44%.
    calibration = {"temperature": 1.0, "recalibrated": False, "answer_threshold": 0.25}
    version = make_ready_version(dataset, detector=False, calibration=calibration)

    default = predict(user_api, version, {"image": png_upload((120, 110, 100))}).json()
    asked = predict(user_api, version, {"image": png_upload((120, 110, 100))}, "?threshold=0.5").json()

    assert (default["answer"]["kind"], asked["answer"]["kind"]) == ("confident", "uncertain")
    assert Prediction.objects.get(id=default["prediction_id"]).details["threshold"] == 0.25
