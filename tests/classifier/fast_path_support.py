"""Requests sent both ways for the lean predict path's tests: with a token (the lean path may answer) and
through DRF alone (a forced login, which the lean path never takes), and what to compare of their answers."""

from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from classifier.models import Prediction
from tests.factories import image_bytes

RED, BLUE, GREY = (255, 0, 0), (0, 0, 255), (128, 128, 128)
# Row fields that differ between two predictions of the same request.
_OWN_FIELDS = {"id", "image", "created_at", "latency_ms"}


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def drf_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=user)
    return client


def upload(color=RED, name="photo.png", content=None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content if content is not None else image_bytes(color=color, fmt="PNG"))


def post(client, version_id, data, query=""):
    return client.post(f"/api/v1/model-versions/{version_id}/predict/{query}", data, format="multipart")


def both(user, version_id, make_data, query=""):
    """The same request through the token client and through DRF alone."""
    lean = post(token_client(user), version_id, make_data(), query)
    return lean, post(drf_client(user), version_id, make_data(), query)


def comparable(response) -> tuple[int, dict]:
    body = dict(response.json())
    for name in ("prediction_id", "latency_ms"):
        body.pop(name, None)
    return response.status_code, body


def headers(response) -> dict:
    """The headers, with Content-Length checked against the body (the two bodies' lengths differ with the
    row's id and the time it took)."""
    assert response["Content-Length"] == str(len(response.content))
    return {name: value for name, value in response.headers.items() if name != "Content-Length"}


def row(prediction_id: int) -> dict:
    prediction = Prediction.objects.get(id=prediction_id)
    fields = {field.attname: getattr(prediction, field.attname) for field in Prediction._meta.concrete_fields}
    return {name: value for name, value in fields.items() if name not in _OWN_FIELDS}
