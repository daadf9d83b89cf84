"""Predictions API: queued predictions, the history, and the limit on URL fetches answered now.

The models are tiny real TFLite colour classifiers (see conftest); tasks run eagerly on commit.
"""

import pytest

from classifier.models import Prediction
from tests.classifier.conftest import Route
from tests.classifier.prediction_api_support import BLUE, RED, png_upload, predict
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db


# Queued predictions and the history


def test_a_queued_prediction_is_answered_by_the_worker(user_api, version, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = user_api.post(
            "/api/v1/predictions/", {"image": png_upload(BLUE), "model_version": version.id}, format="multipart"
        )

    assert response.status_code == 202
    assert set(response.json()) == {"id", "status"}
    assert response.json()["status"] == "queued"
    detail = user_api.get(f"/api/v1/predictions/{response.json()['id']}/").json()
    assert detail["status"] == "succeeded"
    assert detail["predictions"][0]["label"] == "blue"
    assert detail["answer"]["labels"] == ["blue"]
    assert detail["members"] is None
    image = user_api.get(detail["image_url"])
    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"
    assert b"".join(image.streaming_content) == image_bytes(color=BLUE, fmt="PNG")


def test_a_queued_url_that_is_refused_ends_failed_with_the_reason(
    user_api, version, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = user_api.post(
            "/api/v1/predictions/", {"url": "http://10.0.0.8/cat.jpg", "model_version": version.id}, format="json"
        )

    detail = user_api.get(f"/api/v1/predictions/{response.json()['id']}/").json()
    assert detail["status"] == "failed"
    assert "a private address" in detail["error"]
    assert detail["image_url"] is None


def test_queueing_with_another_users_version_is_a_404(other_api, version):
    response = other_api.post(
        "/api/v1/predictions/", {"image": png_upload(), "model_version": version.id}, format="multipart"
    )

    assert response.status_code == 404


def test_the_history_lists_only_your_own_predictions(user_api, other_api, version, public_version):
    for color in (RED, BLUE):
        predict(user_api, version, {"image": png_upload(color)})
    theirs = predict(other_api, public_version, {"image": png_upload()}).json()["prediction_id"]

    history = user_api.get("/api/v1/predictions/").json()

    assert history["count"] == 2
    assert [row["predictions"][0]["label"] for row in history["results"]] == ["blue", "red"]
    assert user_api.get(f"/api/v1/predictions/{theirs}/").status_code == 404
    assert user_api.get(f"/api/v1/predictions/{theirs}/image/").status_code == 404
    assert user_api.post(f"/api/v1/predictions/{theirs}/feedback/", {"is_correct": True}).status_code == 404


def test_sync_url_fetches_beyond_the_limit_are_refused_at_once_and_queued_ones_are_not(
    user_api, version, image_server, settings
):
    from webapp.host_slots import host_slot

    image_server.routes["/blue.png"] = Route(body=image_bytes(color=BLUE, fmt="PNG"))
    settings.SIGHTLINE_URL_FETCH_SYNC_CONCURRENCY = 2
    # Two slow URLs are being fetched by other web processes of this host right now.
    with host_slot("url-fetch-now", 2) as first, host_slot("url-fetch-now", 2) as second:
        assert first and second
        refused = predict(user_api, version, {"url": image_server.url("/blue.png")})

        assert refused.status_code == 429
        body = refused.json()
        assert (body["quota"], body["used"], body["allowed"]) == ("url_fetches_now", 2, 2)
        assert "send the image itself" in body["detail"]
        assert not Prediction.objects.exists()
        # A queued prediction fetches on a worker: not bounded here.
        queued = user_api.post(
            "/api/v1/predictions/", {"model_version": version.id, "url": image_server.url("/blue.png")}, format="json"
        )
        assert queued.status_code == 202, queued.content
    assert predict(user_api, version, {"url": image_server.url("/blue.png")}).status_code == 200
    with host_slot("url-fetch-now", 2) as first, host_slot("url-fetch-now", 2) as second:
        assert first and second, "the answered request gave its slot back"
