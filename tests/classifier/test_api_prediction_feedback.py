"""Predictions API: feedback on an answer and adding its image to the dataset.

The models are tiny real TFLite colour classifiers (see conftest); tasks run eagerly on commit.
"""

import pytest

from classifier.models import DatasetImage, LabelClass, Prediction
from tests.classifier.prediction_api_support import RED, png_upload, predict
from tests.factories import LabelClassFactory

pytestmark = pytest.mark.django_db


# Feedback and adding to the dataset


def test_feedback_then_add_the_image_to_the_dataset(user_api, dataset, version):
    crimson = LabelClassFactory(dataset=dataset, name="crimson")
    prediction_id = predict(user_api, version, {"image": png_upload(RED)}).json()["prediction_id"]

    feedback = user_api.post(
        f"/api/v1/predictions/{prediction_id}/feedback/",
        {"is_correct": False, "correct_label": "crimson"},
        format="json",
    )
    added = user_api.post(f"/api/v1/predictions/{prediction_id}/add-to-dataset/", {"label": "crimson"}, format="json")
    again = user_api.post(f"/api/v1/predictions/{prediction_id}/add-to-dataset/", {"label": "crimson"}, format="json")

    assert feedback.status_code == 200
    assert (feedback.json()["is_correct"], feedback.json()["correct_label"]) == (False, "crimson")
    assert added.status_code == 201
    assert (added.json()["label"], added.json()["dataset"], added.json()["origin"]) == ("crimson", dataset.id, "upload")
    image = DatasetImage.objects.get(id=added.json()["id"])
    assert (image.label, image.from_predictions.get().id) == (crimson, prediction_id)
    assert again.status_code == 400
    assert "same picture" in again.json()["detail"]


def test_feedback_with_a_typo_is_a_400_naming_the_classes(user_api, dataset, version):
    LabelClassFactory(dataset=dataset, name="crimson")
    prediction_id = predict(user_api, version, {"image": png_upload(RED)}).json()["prediction_id"]

    response = user_api.post(
        f"/api/v1/predictions/{prediction_id}/feedback/",
        {"is_correct": False, "correct_label": "crimsen"},
        format="json",
    )

    assert response.status_code == 400
    message = response.json()["correct_label"][0]
    assert 'Did you mean "crimson"?' in message
    # The dataset's classes and the version's.
    assert "Its classes: blue, crimson, green, red." in message
    prediction = Prediction.objects.get(id=prediction_id)
    assert (prediction.is_correct, prediction.correct_label) == (None, "")


def test_a_new_class_is_made_only_when_asked_for(user_api, dataset, version):
    prediction_id = predict(user_api, version, {"image": png_upload(RED)}).json()["prediction_id"]
    feedback = f"/api/v1/predictions/{prediction_id}/feedback/"
    add = f"/api/v1/predictions/{prediction_id}/add-to-dataset/"

    named = user_api.post(feedback, {"is_correct": False, "correct_label": "crimson", "new_class": True}, format="json")
    refused = user_api.post(add, {"label": "crimson"}, format="json")

    assert named.status_code == 200
    assert named.json()["correct_label"] == "crimson"
    assert refused.status_code == 400
    assert '"crimson" is not a class of "Colours". It has no classes yet.' in refused.json()["label"][0]
    assert not LabelClass.objects.exists() and not DatasetImage.objects.exists()

    added = user_api.post(add, {"label": "crimson", "new_class": True}, format="json")

    assert added.status_code == 201
    assert list(LabelClass.objects.filter(dataset=dataset).values_list("name", flat=True)) == ["crimson"]
    assert DatasetImage.objects.get().label.name == "crimson"


def test_feedback_on_a_prediction_without_an_answer_is_a_409(user_api, user, version):
    queued = Prediction.objects.create(owner=user, model_version=version)

    response = user_api.post(f"/api/v1/predictions/{queued.id}/feedback/", {"is_correct": True}, format="json")

    assert response.status_code == 409


def test_feedback_needs_is_correct(user_api, version):
    prediction_id = predict(user_api, version, {"image": png_upload()}).json()["prediction_id"]

    response = user_api.post(f"/api/v1/predictions/{prediction_id}/feedback/", {}, format="json")

    assert response.status_code == 400
    assert "is_correct" in response.json()
