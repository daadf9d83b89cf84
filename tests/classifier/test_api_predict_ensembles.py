"""Predictions API: ensembles of two to five versions, aligned by class name or on shared classes only.

The models are tiny real TFLite colour classifiers (see conftest); tasks run eagerly on commit.
"""

import pytest

from classifier.models import ModelVersion, Prediction
from tests.classifier.conftest import Route
from tests.classifier.prediction_api_support import RED, png_upload
from tests.factories import DatasetFactory, image_bytes
from tests.models import OTHER_CLASSES

pytestmark = pytest.mark.django_db


# Ensembles


def test_an_ensemble_answers_each_members_top_three_and_their_mean(user_api, dataset, make_ready_version):
    first = make_ready_version(dataset)
    second = make_ready_version(dataset, number=2)

    response = user_api.post(
        "/api/v1/ensembles/predict/",
        {"image": png_upload(RED), "model_versions": [first.id, second.id]},
        format="multipart",
    )

    assert response.status_code == 200
    body = response.json()
    assert [member["model_version"] for member in body["members"]] == [first.id, second.id]
    assert all(len(member["predictions"]) == 3 for member in body["members"])
    ensemble = {row["label"]: row["probability"] for row in body["ensemble"]["predictions"]}
    assert set(ensemble) == {"red", "green", "blue"}
    members = [{row["label"]: row["probability"] for row in member["predictions"]} for member in body["members"]]
    assert ensemble["red"] == pytest.approx((members[0]["red"] + members[1]["red"]) / 2, abs=1e-6)
    assert (body["is_unknown"], body["shared_classes_only"]) == (False, False)
    assert Prediction.objects.get(id=body["prediction_id"]).ensemble_version_ids == [first.id, second.id]


def _faces_version(user, make_ready_version):
    """A 2-class version (its model is never run: the class sets are checked first)."""
    faces = make_ready_version(DatasetFactory(owner=user, name="Faces"))
    ModelVersion.objects.filter(id=faces.id).update(class_names=["face", "no face"])
    return faces


def test_an_ensemble_of_versions_with_different_classes_is_a_400_naming_them(
    user, user_api, dataset, make_ready_version, public_version
):
    faces = _faces_version(user, make_ready_version)

    response = user_api.post(
        "/api/v1/ensembles/predict/",
        {"image": png_upload(RED), "model_versions": [faces.id, public_version.id]},
        format="multipart",
    )

    assert response.status_code == 400
    message = " ".join(response.json()["model_versions"])
    assert '"Faces" v1 (2 classes), "ImageNet-1k" v1 (3 classes)' in message
    assert "They share 0 classes" in message
    assert not Prediction.objects.exists()


def test_shared_classes_only_combines_what_the_versions_share(user_api, dataset, make_ready_version):
    first = make_ready_version(dataset)
    second = make_ready_version(dataset, number=2, classes=OTHER_CLASSES)
    data = {"image": png_upload(RED), "model_versions": [first.id, second.id]}

    refused = user_api.post("/api/v1/ensembles/predict/", data, format="multipart")
    data["image"] = png_upload(RED)
    response = user_api.post("/api/v1/ensembles/predict/", {**data, "shared_classes_only": "true"}, format="multipart")

    assert refused.status_code == 400
    assert "shared_classes_only" in " ".join(refused.json()["model_versions"])
    assert response.status_code == 200
    body = response.json()
    assert {row["label"] for row in body["ensemble"]["predictions"]} == {"red", "blue"}
    assert body["ensemble"]["predictions"][0]["label"] == "red"
    assert body["shared_classes_only"] is True
    assert Prediction.objects.count() == 1


def test_shared_classes_only_with_fewer_than_two_shared_is_a_400(user, user_api, version, make_ready_version):
    faces = _faces_version(user, make_ready_version)

    response = user_api.post(
        "/api/v1/ensembles/predict/",
        {"url": "http://example.com/a.png", "model_versions": [version.id, faces.id], "shared_classes_only": True},
        format="json",
    )

    assert response.status_code == 400
    assert "share 0 classes" in " ".join(response.json()["model_versions"])
    assert not Prediction.objects.exists()


def test_the_schema_documents_shared_classes_only(user_api):
    schema = user_api.get("/api/v1/schema/?format=json").json()

    field = schema["components"]["schemas"]["EnsemblePredictInputRequest"]["properties"]["shared_classes_only"]
    assert field["type"] == "boolean" and "classes they all know" in field["description"]


def test_an_ensemble_by_url_in_json(user_api, dataset, make_ready_version, image_server):
    image_server.routes["/r.png"] = Route(body=image_bytes(color=RED, fmt="PNG"))
    versions = [make_ready_version(dataset).id, make_ready_version(dataset, number=2).id]

    response = user_api.post(
        "/api/v1/ensembles/predict/", {"url": image_server.url("/r.png"), "model_versions": versions}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["ensemble"]["predictions"][0]["label"] == "red"


def test_an_ensemble_needs_two_to_five_versions(user_api, version):
    response = user_api.post(
        "/api/v1/ensembles/predict/", {"image": png_upload(), "model_versions": [version.id]}, format="multipart"
    )

    assert response.status_code == 400
    assert "model_versions" in response.json()


def test_an_ensemble_with_another_users_version_is_a_404(other_api, other_user, version, make_ready_version):
    own = make_ready_version(DatasetFactory(owner=other_user))

    response = other_api.post(
        "/api/v1/ensembles/predict/",
        {"image": png_upload(), "model_versions": [own.id, version.id]},
        format="multipart",
    )

    assert response.status_code == 404
    assert str(version.id) in response.json()["detail"]
