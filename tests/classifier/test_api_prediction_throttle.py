"""Predictions are rate-limited per account (SIGHTLINE_THROTTLE_PREDICTIONS): over the rate a 429 says
which limit and when to retry, and nothing is stored; reading predictions back is not counted, and
another account has its own count."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from classifier.models import Prediction
from tests.classifier.fast_path_support import drf_client, post, token_client, upload
from tests.factories import DatasetFactory, image_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(user, make_ready_version):
    return make_ready_version(DatasetFactory(owner=user, name="Colours"), is_active=True)


@pytest.fixture(autouse=True)
def _three_per_minute(settings):
    settings.SIGHTLINE_THROTTLE_RATES = {**settings.SIGHTLINE_THROTTLE_RATES, "predictions": "3/min"}


def _predict(client, version):
    image = SimpleUploadedFile("photo.png", image_bytes(fmt="PNG"), content_type="image/png")
    return client.post(f"/api/v1/model-versions/{version.id}/predict/", {"image": image}, format="multipart")


def test_predictions_over_the_rate_are_429_and_store_nothing(user_api, version):
    assert [_predict(user_api, version).status_code for _ in range(3)] == [200, 200, 200]

    refused = _predict(user_api, version)
    queued = user_api.post(
        "/api/v1/predictions/",
        {"model_version": version.id, "image": SimpleUploadedFile("a.png", image_bytes(fmt="PNG"))},
        format="multipart",
    )

    assert refused.status_code == 429
    assert refused.json()["detail"].startswith(
        "Rate limit reached: 3 of 3 predictions per minute for your account used. Expected available in "
    )
    assert int(refused["Retry-After"]) <= 60
    assert queued.status_code == 429
    assert Prediction.objects.count() == 3
    # Reading them back is free.
    assert user_api.get("/api/v1/predictions/").status_code == 200


def test_each_account_has_its_own_prediction_count(user_api, staff_api, version):
    for _ in range(3):
        _predict(user_api, version)

    assert _predict(user_api, version).status_code == 429
    assert _predict(staff_api, version).status_code == 200


def test_without_the_counts_a_prediction_is_refused_with_503_and_nothing_stored(user, version, settings):
    """Redis down: refused rather than let through unlimited, from the lean path (a token) and DRF alike."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }

    answers = [post(client, version.id, {"image": upload()}) for client in (token_client(user), drf_client(user))]

    assert [answer.status_code for answer in answers] == [503, 503]
    assert "cannot check its rate limits right now" in answers[0].json()["detail"]
    assert not Prediction.objects.exists()
