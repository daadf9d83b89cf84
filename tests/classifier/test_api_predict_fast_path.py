"""The predict endpoint's lean path (classifier.api.predict_fast_path) answers as the DRF view does.

Each request is sent twice by the same user: with a token (the lean path may answer it) and through
DRF alone (a forced login, which the lean path never takes). The status, the body (all but the new
row's id and the time it took), the stored row and its image must be the same; and the lean path must
really have answered the plain requests, and left the rest to DRF (``drf_answers``, in conftest).
"""

import json

import pytest
from django.core.files.storage import default_storage
from rest_framework.authtoken.models import Token
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from classifier.api.prediction_serializers import PredictionResultSerializer
from classifier.models import ModelVersion, Prediction
from tests.classifier.fast_path_support import (
    BLUE,
    GREY,
    RED,
    both,
    comparable,
    headers,
    post,
    row,
    token_client,
    upload,
)
from tests.factories import DatasetFactory, UserFactory, image_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(user, make_ready_version):
    return make_ready_version(DatasetFactory(owner=user, name="Colours"), is_active=True)


@pytest.mark.parametrize("query", ["", "?top_k=2", "?threshold=0.999", "?top_k=3&threshold=0.2", "?quantized=false"])
@pytest.mark.parametrize("color", [RED, GREY])
def test_a_plain_upload_is_answered_by_the_lean_path_as_drf_answers_it(user, version, drf_answers, query, color):
    lean, drf = both(user, version.id, lambda: {"image": upload(color)}, query)

    assert lean.status_code == drf.status_code == 200
    assert len(drf_answers) == 1  # the forced-login request only
    assert comparable(lean) == comparable(drf)
    assert headers(lean) == headers(drf)
    lean_row, drf_row = row(lean.json()["prediction_id"]), row(drf.json()["prediction_id"])
    assert lean_row == drf_row
    assert lean_row["owner_id"] == user.id and lean_row["model_version_id"] == version.id
    stored = Prediction.objects.get(id=lean.json()["prediction_id"])
    with default_storage.open(stored.image.name, "rb") as file:
        assert file.read() == image_bytes(color=color, fmt="PNG")
    assert stored.latency_ms > 0


def test_the_lean_answer_is_the_serializers_bytes(user, version, drf_answers):
    response = post(token_client(user), version.id, {"image": upload(BLUE)}, "?top_k=3")

    prediction = Prediction.objects.get(id=response.json()["prediction_id"])
    assert response.content == JSONRenderer().render(PredictionResultSerializer(prediction).data)
    assert response["Content-Type"] == "application/json"
    assert drf_answers == []


@pytest.mark.parametrize(
    ("make_data", "query"),
    [
        (lambda: {"image": upload()}, "?top_k=0"),
        (lambda: {"image": upload()}, "?top_k=9"),
        (lambda: {"image": upload()}, "?top_k=two"),
        (lambda: {"image": upload()}, "?threshold=1.5"),
        (lambda: {"image": upload()}, "?threshold=nan"),
        (lambda: {"image": upload()}, "?quantized=true"),
        (lambda: {"image": upload()}, "?quantized=maybe"),
        (lambda: {"image": upload(content=b"not an image")}, ""),
        (lambda: {"image": upload(content=b"")}, ""),
        (lambda: {"image": upload(content=image_bytes(fmt="PNG")[:40])}, ""),
        (lambda: {"image": upload(), "url": "http://example.com/a.png"}, ""),
        (lambda: {"picture": upload()}, ""),
        (lambda: {"url": "ftp://example.com/a.png"}, ""),
        (lambda: {}, ""),
    ],
    ids=[
        "top_k-0", "top_k-beyond", "top_k-text", "threshold-high", "threshold-nan", "int8-missing",
        "quantized-text", "not-an-image", "empty-file", "truncated", "image-and-url",
        "other-field", "bad-url", "nothing",
    ],
)
def test_bad_requests_are_left_to_drf_and_answered_the_same(user, version, drf_answers, make_data, query):
    before = Prediction.objects.count()

    lean, drf = both(user, version.id, make_data, query)

    assert lean.status_code == drf.status_code == 400
    assert lean.json() == drf.json()
    assert len(drf_answers) == 2
    assert Prediction.objects.count() == before


@pytest.mark.parametrize(
    ("make_data", "query"),
    [(lambda: {"image": upload()}, "?colour=red"), (lambda: {"image": [upload(BLUE), upload()]}, "")],
    ids=["unknown-option", "two-images"],
)
def test_what_the_lean_path_does_not_read_is_left_to_drf(user, version, drf_answers, make_data, query):
    lean, drf = both(user, version.id, make_data, query)

    assert lean.status_code == drf.status_code == 200
    assert comparable(lean) == comparable(drf)
    assert len(drf_answers) == 2


def test_a_version_that_cannot_serve_is_a_409_from_drf(user, version, drf_answers):
    ModelVersion.objects.filter(id=version.id).update(status=ModelVersion.Status.FAILED)

    lean, drf = both(user, version.id, lambda: {"image": upload()})

    assert lean.status_code == drf.status_code == 409
    assert lean.json() == drf.json()
    assert Prediction.objects.count() == 0


def test_who_may_use_a_version_is_the_apis_rule(user, version, make_ready_version, drf_answers):
    public = make_ready_version(DatasetFactory(owner=UserFactory(username="sightline"), is_public=True, name="P"))
    private = make_ready_version(DatasetFactory(owner=UserFactory(username="dave"), name="Dave's"))
    staff = UserFactory(username="erin", is_staff=True)

    assert post(token_client(user), public.id, {"image": upload()}).status_code == 200
    assert post(token_client(staff), private.id, {"image": upload()}).status_code == 200
    assert drf_answers == []  # both answered by the lean path
    refused = post(token_client(user), private.id, {"image": upload()})
    missing = post(token_client(user), 987654, {"image": upload()})
    assert refused.status_code == missing.status_code == 404
    assert refused.json() == missing.json()
    assert Prediction.objects.filter(model_version=private, owner=user).count() == 0


def test_a_bad_token_or_an_inactive_account_is_a_401(user, version):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert post(client, version.id, {"image": upload()}).status_code == 401

    deactivated = token_client(user)
    user.is_active = False
    user.save(update_fields=["is_active"])
    response = post(deactivated, version.id, {"image": upload()})

    assert response.status_code == 401
    assert Prediction.objects.count() == 0


def test_a_signed_in_browser_session_goes_through_drf(user, version, drf_answers, client):
    client.force_login(user)
    response = client.post(
        f"/api/v1/model-versions/{version.id}/predict/", {"image": upload()}, HTTP_X_CSRFTOKEN="x"
    )

    assert response.status_code in (200, 403)  # CSRF decides, as before: never the lean path
    assert len(drf_answers) == (1 if response.status_code == 200 else 0)


def test_each_request_is_counted_once_by_the_rate_limit(user, version, settings, drf_answers):
    settings.SIGHTLINE_THROTTLE_RATES = {**settings.SIGHTLINE_THROTTLE_RATES, "predictions": "3/min"}
    client = token_client(user)

    answered = post(client, version.id, {"image": upload()}).status_code
    refused_image = post(client, version.id, {"image": upload(content=b"junk")}).status_code
    answered_again = post(client, version.id, {"image": upload()}).status_code
    over = post(client, version.id, {"image": upload()})

    assert (answered, refused_image, answered_again) == (200, 400, 200)
    assert over.status_code == 429
    assert "3 of 3 predictions per minute" in over.json()["detail"]
    assert over.has_header("Retry-After")
    assert Prediction.objects.filter(owner=user).count() == 2


def test_a_revoked_tokens_request_is_not_counted_against_its_account(user, version, settings):
    """The lookup refuses the revoked token before anything is counted, and DRF answers 401 before its throttle."""
    settings.SIGHTLINE_THROTTLE_RATES = {**settings.SIGHTLINE_THROTTLE_RATES, "predictions": "2/min"}
    old = token_client(user)
    assert post(old, version.id, {"image": upload()}).status_code == 200
    Token.objects.filter(user=user).delete()

    revoked = post(old, version.id, {"image": upload()})
    new = token_client(user)
    statuses = [post(new, version.id, {"image": upload()}).status_code for _ in range(2)]

    assert revoked.status_code == 401
    assert statuses == [200, 429]
    assert Prediction.objects.filter(owner=user).count() == 2


def test_a_request_for_a_version_the_account_cannot_use_is_counted_once(user, version, settings):
    settings.SIGHTLINE_THROTTLE_RATES = {**settings.SIGHTLINE_THROTTLE_RATES, "predictions": "3/min"}
    foreign = ModelVersion.objects.get(id=version.id)
    foreign.pk = None
    foreign.dataset = DatasetFactory(owner=UserFactory(), name="Theirs")
    foreign.save()
    client = token_client(user)

    statuses = [post(client, vid, {"image": upload()}).status_code for vid in (version.id, foreign.id, version.id)]
    over = post(client, version.id, {"image": upload()})

    # The 404 is counted by the DRF view that answers it, and only there.
    assert statuses == [200, 404, 200]
    assert over.status_code == 429
    assert Prediction.objects.filter(owner=user).count() == 2


def test_the_answer_is_small_and_names_the_version(user, version):
    response = post(token_client(user), version.id, {"image": upload()})

    assert len(response.content) < 2_000
    assert json.loads(response.content)["model_version"] == version.id
