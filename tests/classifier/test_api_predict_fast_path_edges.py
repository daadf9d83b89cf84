"""The lean predict path's edges: malformed or large bodies, content negotiation, a foreign Host, the
token header and option strings as DRF reads them. Each is left to DRF, whose answer is the API's."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from classifier.models import Prediction
from tests.classifier.fast_path_support import post, token_client, upload
from tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(user, make_ready_version):
    return make_ready_version(DatasetFactory(owner=user, name="Colours"), is_active=True)


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
    lean_response, drf_response = send(token_client(user)), send(drf)

    assert lean_response.status_code == drf_response.status_code == 400
    assert lean_response.json() == drf_response.json()
    assert Prediction.objects.count() == 0


def test_a_body_too_big_to_hold_in_memory_goes_to_drf(user, version, settings, drf_answers):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100

    response = post(token_client(user), version.id, {"image": upload()})

    assert response.status_code == 200
    assert len(drf_answers) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_ACCEPT": "application/xml"},
        {"HTTP_ACCEPT": "text/html"},
        {"HTTP_ACCEPT": "application/json; indent=4"},
        {"HTTP_HOST": "evil.example"},
    ],
    ids=["xml", "html", "indent", "foreign-host"],
)
def test_what_other_middleware_or_negotiation_decides_is_left_to_them(user, version, drf_answers, headers):
    drf = APIClient()
    drf.force_authenticate(user=user)
    url = f"/api/v1/model-versions/{version.id}/predict/"

    lean = token_client(user).post(url, {"image": upload()}, format="multipart", **headers)
    plain = drf.post(url, {"image": upload()}, format="multipart", **headers)

    assert lean.status_code == plain.status_code
    assert lean["Content-Type"] == plain["Content-Type"]
    assert Prediction.objects.count() == (2 if lean.status_code == 200 else 0)


def test_the_token_header_is_read_as_drf_reads_it(user, version):
    key = Token.objects.get_or_create(user=user)[0].key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token\xa0{key}")  # not a separator for DRF

    assert post(client, version.id, {"image": upload()}).status_code == 401
    assert Prediction.objects.count() == 0


def test_a_threshold_longer_than_drf_reads_is_refused(user, version):
    response = post(token_client(user), version.id, {"image": upload()}, "?threshold=0.5" + "0" * 1000)

    assert response.status_code == 400
    assert Prediction.objects.count() == 0
