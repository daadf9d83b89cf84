"""The predict endpoint's lean path (classifier.api.predict_fast_path) answers as the DRF view does.

Each request is sent twice by the same user: with a token (the lean path may answer it) and through
DRF alone (a forced login, which the lean path never takes). The status, the body (all but the new
row's id and the time it took), the stored row and its image must be the same; and the lean path must
really have answered the plain requests, and left the rest to DRF.
"""

import json

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from classifier.api import prediction_views
from classifier.api.prediction_serializers import PredictionResultSerializer
from classifier.models import ModelVersion, Prediction
from tests.factories import DatasetFactory, UserFactory, image_bytes

pytestmark = pytest.mark.django_db

RED, BLUE, GREY = (255, 0, 0), (0, 0, 255), (128, 128, 128)
# Row fields that differ between two predictions of the same request.
_OWN_FIELDS = {"id", "image", "created_at", "latency_ms"}


@pytest.fixture
def drf_answers(monkeypatch):
    """How many requests the DRF view answered (the lean path answers the others)."""
    calls = []
    original = prediction_views._predict_now

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(prediction_views, "_predict_now", counted)
    return calls


@pytest.fixture
def version(user, make_ready_version):
    return make_ready_version(DatasetFactory(owner=user, name="Colours"), is_active=True)


def _token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def _upload(color=RED, name="photo.png", content=None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content if content is not None else image_bytes(color=color, fmt="PNG"))


def _post(client, version_id, data, query=""):
    return client.post(f"/api/v1/model-versions/{version_id}/predict/{query}", data, format="multipart")


def _comparable(response) -> tuple[int, dict]:
    body = dict(response.json())
    for name in ("prediction_id", "latency_ms"):
        body.pop(name, None)
    return response.status_code, body


def _headers(response) -> dict:
    return {name: value for name, value in response.headers.items() if name != "Content-Length"}


def _row(prediction_id: int) -> dict:
    prediction = Prediction.objects.get(id=prediction_id)
    fields = {field.attname: getattr(prediction, field.attname) for field in Prediction._meta.concrete_fields}
    return {name: value for name, value in fields.items() if name not in _OWN_FIELDS}


def _both(user, version_id, make_data, query=""):
    """The same request through the token client and through DRF alone."""
    drf = APIClient()
    drf.force_authenticate(user=user)
    return _post(_token_client(user), version_id, make_data(), query), _post(drf, version_id, make_data(), query)


@pytest.mark.parametrize("query", ["", "?top_k=2", "?threshold=0.999", "?top_k=3&threshold=0.2", "?quantized=false"])
@pytest.mark.parametrize("color", [RED, GREY])
def test_a_plain_upload_is_answered_by_the_lean_path_as_drf_answers_it(user, version, drf_answers, query, color):
    lean, drf = _both(user, version.id, lambda: {"image": _upload(color)}, query)

    assert lean.status_code == drf.status_code == 200
    assert len(drf_answers) == 1  # the forced-login request only
    assert _comparable(lean) == _comparable(drf)
    assert _headers(lean) == _headers(drf)
    lean_row, drf_row = _row(lean.json()["prediction_id"]), _row(drf.json()["prediction_id"])
    assert lean_row == drf_row
    assert lean_row["owner_id"] == user.id and lean_row["model_version_id"] == version.id
    stored = Prediction.objects.get(id=lean.json()["prediction_id"])
    with default_storage.open(stored.image.name, "rb") as file:
        assert file.read() == image_bytes(color=color, fmt="PNG")
    assert stored.latency_ms > 0


def test_the_lean_answer_is_the_serializers_bytes(user, version, drf_answers):
    response = _post(_token_client(user), version.id, {"image": _upload(BLUE)}, "?top_k=3")

    prediction = Prediction.objects.get(id=response.json()["prediction_id"])
    assert response.content == JSONRenderer().render(PredictionResultSerializer(prediction).data)
    assert response["Content-Type"] == "application/json"
    assert drf_answers == []


@pytest.mark.parametrize(
    ("make_data", "query"),
    [
        (lambda: {"image": _upload()}, "?top_k=0"),
        (lambda: {"image": _upload()}, "?top_k=9"),
        (lambda: {"image": _upload()}, "?top_k=two"),
        (lambda: {"image": _upload()}, "?threshold=1.5"),
        (lambda: {"image": _upload()}, "?threshold=nan"),
        (lambda: {"image": _upload()}, "?quantized=true"),
        (lambda: {"image": _upload()}, "?quantized=maybe"),
        (lambda: {"image": _upload(content=b"not an image")}, ""),
        (lambda: {"image": _upload(content=b"")}, ""),
        (lambda: {"image": _upload(content=image_bytes(fmt="PNG")[:40])}, ""),
        (lambda: {"image": _upload(), "url": "http://example.com/a.png"}, ""),
        (lambda: {"picture": _upload()}, ""),
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

    lean, drf = _both(user, version.id, make_data, query)

    assert lean.status_code == drf.status_code == 400
    assert lean.json() == drf.json()
    assert len(drf_answers) == 2
    assert Prediction.objects.count() == before


@pytest.mark.parametrize(
    ("make_data", "query"),
    [(lambda: {"image": _upload()}, "?colour=red"), (lambda: {"image": [_upload(BLUE), _upload()]}, "")],
    ids=["unknown-option", "two-images"],
)
def test_what_the_lean_path_does_not_read_is_left_to_drf(user, version, drf_answers, make_data, query):
    lean, drf = _both(user, version.id, make_data, query)

    assert lean.status_code == drf.status_code == 200
    assert _comparable(lean) == _comparable(drf)
    assert len(drf_answers) == 2


def test_a_version_that_cannot_serve_is_a_409_from_drf(user, version, drf_answers):
    ModelVersion.objects.filter(id=version.id).update(status=ModelVersion.Status.FAILED)

    lean, drf = _both(user, version.id, lambda: {"image": _upload()})

    assert lean.status_code == drf.status_code == 409
    assert lean.json() == drf.json()
    assert Prediction.objects.count() == 0


def test_who_may_use_a_version_is_the_apis_rule(user, version, make_ready_version, drf_answers):
    public = make_ready_version(DatasetFactory(owner=UserFactory(username="sightline"), is_public=True, name="P"))
    private = make_ready_version(DatasetFactory(owner=UserFactory(username="dave"), name="Dave's"))
    staff = UserFactory(username="erin", is_staff=True)

    assert _post(_token_client(user), public.id, {"image": _upload()}).status_code == 200
    assert _post(_token_client(staff), private.id, {"image": _upload()}).status_code == 200
    assert drf_answers == []  # both answered by the lean path
    refused = _post(_token_client(user), private.id, {"image": _upload()})
    missing = _post(_token_client(user), 987654, {"image": _upload()})
    assert refused.status_code == missing.status_code == 404
    assert refused.json() == missing.json()
    assert Prediction.objects.filter(model_version=private, owner=user).count() == 0


def test_a_bad_token_or_an_inactive_account_is_a_401(user, version):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert _post(client, version.id, {"image": _upload()}).status_code == 401

    deactivated = _token_client(user)
    user.is_active = False
    user.save(update_fields=["is_active"])
    response = _post(deactivated, version.id, {"image": _upload()})

    assert response.status_code == 401
    assert Prediction.objects.count() == 0


def test_a_signed_in_browser_session_goes_through_drf(user, version, drf_answers, client):
    client.force_login(user)
    response = client.post(
        f"/api/v1/model-versions/{version.id}/predict/", {"image": _upload()}, HTTP_X_CSRFTOKEN="x"
    )

    assert response.status_code in (200, 403)  # CSRF decides, as before: never the lean path
    assert len(drf_answers) == (1 if response.status_code == 200 else 0)


def test_each_request_is_counted_once_by_the_rate_limit(user, version, settings, drf_answers):
    settings.SIGHTLINE_THROTTLE_RATES = {**settings.SIGHTLINE_THROTTLE_RATES, "predictions": "3/min"}
    client = _token_client(user)

    answered = _post(client, version.id, {"image": _upload()}).status_code
    refused_image = _post(client, version.id, {"image": _upload(content=b"junk")}).status_code
    answered_again = _post(client, version.id, {"image": _upload()}).status_code
    over = _post(client, version.id, {"image": _upload()})

    assert (answered, refused_image, answered_again) == (200, 400, 200)
    assert over.status_code == 429
    assert "3 of 3 predictions per minute" in over.json()["detail"]
    assert over.has_header("Retry-After")
    assert Prediction.objects.filter(owner=user).count() == 2


def test_the_answer_is_small_and_names_the_version(user, version):
    response = _post(_token_client(user), version.id, {"image": _upload()})

    assert len(response.content) < 2_000
    assert json.loads(response.content)["model_version"] == version.id


@pytest.mark.parametrize(
    "body",
    [b"not multipart at all", b"--b\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nno end", b"--b--\r\n"],
    ids=["garbage", "unterminated", "empty"],
)
def test_a_malformed_body_gets_drfs_answer(user, version, body):
    def send(client):
        url = f"/api/v1/model-versions/{version.id}/predict/"
        return client.generic("POST", url, body, content_type="multipart/form-data; boundary=b")

    drf = APIClient()
    drf.force_authenticate(user=user)
    lean_response, drf_response = send(_token_client(user)), send(drf)

    assert lean_response.status_code == drf_response.status_code == 400
    assert lean_response.json() == drf_response.json()
    assert Prediction.objects.count() == 0


def test_a_body_too_big_to_hold_in_memory_goes_to_drf(user, version, settings, drf_answers):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100

    response = _post(_token_client(user), version.id, {"image": _upload()})

    assert response.status_code == 200
    assert len(drf_answers) == 1
