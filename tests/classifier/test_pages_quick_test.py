"""A version's quick test: upload or URL, the threshold's answer rule, unknown images, and bad input
shown on the form.

Predictions run for real: the colour models of tests/models.py, exported to TFLite once
per session and stored as each version's model file, answer through LiteRT as they do in production.
"""

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from classifier.models import Prediction
from tests.classifier.conftest import Route
from tests.classifier.prediction_pages_support import (
    ORANGE,
    answer_text,
    colours_dataset,
    detail_url,
    png_upload,
    predict,
    quick_test_url,
)
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db

# Equal parts of every primary: far from all the colours the unknown-image detector was fitted on.
GREY = (128, 128, 128)


@pytest.fixture
def dataset(user):
    return colours_dataset(user)


@pytest.fixture
def version(dataset, make_ready_version):
    # No unknown-image detector: orange would be far from its pure primaries.
    return make_ready_version(dataset, detector=False, is_active=True)


# Predicting


def test_upload_opens_the_saved_prediction_with_its_answer(user_client, user, version):
    response = predict(user_client, version, image=png_upload())

    prediction = Prediction.objects.get()
    assert response.status_code == 302
    assert response.url == detail_url(prediction)
    assert (prediction.owner, prediction.model_version, prediction.status) == (user, version, "succeeded")
    assert [row["label"] for row in prediction.results] == ["red", "green", "blue"]
    assert prediction.results[0]["probability"] == pytest.approx(0.78, abs=0.01)
    assert default_storage.exists(prediction.image.name)

    page = user_client.get(response.url)
    assert page.status_code == 200
    assert answer_text(page) == "It is red"
    assert [bar["label"] for bar in page.context["bars"]] == ["red", "green", "blue"]
    assert 'class="prob-fill" style="width: 78.' in page.text
    assert reverse("classifier_api:prediction-image", args=[prediction.pk]) in page.text
    assert "<li>blue</li>" in page.text  # the classes it knows


def test_the_threshold_decides_between_one_answer_and_two(user_client, version):
    response = predict(user_client, version, image=png_upload(), threshold="0.8")

    page = user_client.get(response.url)
    assert answer_text(page) == "It could be red or green"
    assert "No class reaches the 80% threshold" in page.text

    # The result page recomputes the answer from the stored probabilities for another threshold.
    lower = user_client.get(f"{response.url}?threshold=0.6")
    assert answer_text(lower) == "It is red"
    assert lower.context["threshold_form"]["threshold"].value() == "0.6"

    # A threshold that is not a probability is refused on its form; the stored one still answers.
    wrong = user_client.get(f"{response.url}?threshold=2")
    assert wrong.context["threshold_form"].errors["threshold"]
    assert answer_text(wrong) == "It could be red or green"


def test_an_unknown_image_is_answered_as_such(user_client, dataset, make_ready_version):
    watchful = make_ready_version(dataset, 2)

    page = user_client.get(predict(user_client, watchful, image=png_upload(GREY)).url)

    assert page.context["prediction"].is_unknown
    assert answer_text(page) == "Unknown — not one of my classes"


def test_a_refused_url_shows_the_reason_on_the_form(user_client, version):
    page = predict(user_client, version, url="http://127.0.0.1/cat.jpg")

    assert page.status_code == 200
    error = " ".join(page.context["form"].errors["url"])
    assert "loopback" in error
    assert error in page.text.replace("&#x27;", "'")
    assert not Prediction.objects.exists()


def test_an_image_url_is_fetched_and_kept_with_the_prediction(user_client, version, image_server):
    image_server.routes["/pictures/cardinal.png"] = Route(
        body=image_bytes(color=ORANGE, fmt="PNG"), headers={"Content-Type": "image/png"}
    )
    url = image_server.url("/pictures/cardinal.png")

    response = predict(user_client, version, url=url)

    prediction = Prediction.objects.get()
    assert response.url == detail_url(prediction)
    assert prediction.source_url == url
    assert prediction.details["filename"] == "cardinal.png"
    assert f'href="{url}"' in user_client.get(response.url).text


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({}, None, "Upload an image or paste an image URL."),
        ({"url": "https://example.com/a.jpg", "image": "yes"}, None, "Upload an image or paste a URL, not both."),
        ({"image": "not an image"}, "image", "is not an image Sightline can read"),
        ({"image": "yes", "threshold": "1.5"}, "threshold", "less than or equal to 1"),
    ],
)
def test_bad_input_is_shown_on_the_form(user_client, version, data, field, message):
    if "image" in data:
        content = b"plain text" if data["image"] == "not an image" else image_bytes(fmt="PNG")
        data = {**data, "image": SimpleUploadedFile("photo.png", content)}

    page = user_client.post(quick_test_url(version), {"threshold": "0.5", **data})

    assert page.status_code == 200
    errors = page.context["form"].errors.get(field or "__all__", [])
    assert any(message in error for error in errors), errors
    assert not Prediction.objects.exists()
