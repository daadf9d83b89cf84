"""The suite-wide guard of tests/conftest.py: an API response over 1 MB fails the test that got it."""

import pytest
from django.http import FileResponse, HttpResponse
from django.urls import path

from tests.conftest import API_RESPONSE_MAX_BYTES


def _big(request):
    return HttpResponse(b"x" * (API_RESPONSE_MAX_BYTES + 1))


def _big_download(request):
    return FileResponse(iter([b"x" * (API_RESPONSE_MAX_BYTES + 1)]))


urlpatterns = [path("api/big/", _big), path("api/big-download/", _big_download), path("page/big/", _big)]


@pytest.fixture(autouse=True)
def _these_urls(settings):
    settings.ROOT_URLCONF = __name__


def test_an_api_response_over_1_mb_fails_the_test(client):
    with pytest.raises(pytest.fail.Exception, match=r"GET /api/big/ answered 1,048,577 bytes \(over 1 MB\)"):
        client.get("/api/big/")


def test_streamed_downloads_and_pages_are_not_counted(client):
    assert client.get("/api/big-download/").status_code == 200
    assert client.get("/page/big/").status_code == 200
