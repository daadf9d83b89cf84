"""Error pages a person meets with DEBUG off: a styled 404 (also for another user's object), 403 and
500 with a way back, while the API keeps answering JSON."""

import io
import logging

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.template.loader import render_to_string
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import path, resolve, reverse

from tests.factories import DatasetFactory
from webapp.urls import urlpatterns as site_urlpatterns

pytestmark = pytest.mark.django_db


def _refused(request):
    raise PermissionDenied('"ImageNet-1k" is a public dataset: only staff can change it.')


def _broken(request):
    raise RuntimeError("a bug")


# The site's routes plus two views that fail, to reach Django's 403 and 500 handlers.
urlpatterns = [path("refused/", _refused), path("broken/", _broken), *site_urlpatterns]


def _links(html: str) -> list[str]:
    return [href for href in ("/datasets/", "/predict/", "/") if f'href="{href}"' in html]


@override_settings(DEBUG=False)
def test_a_missing_dataset_gets_the_styled_404(user_client):
    response = user_client.get(reverse("classifier:dataset-detail", args=[999999]))

    assert response.status_code == 404
    assert [template.name for template in response.templates][:2] == ["404.html", "base.html"]
    assert 'id="error-404"' in response.text
    assert "/datasets/999999/" in response.text
    assert _links(response.text) == ["/datasets/", "/predict/", "/"]
    # The page frame, with the signed-in user's menu.
    assert "alice" in response.text and "sightline.css" in response.text


@override_settings(DEBUG=False)
def test_another_users_dataset_is_the_same_404(user_client, other_user):
    theirs = DatasetFactory(owner=other_user, name="Bob's birds")

    response = user_client.get(reverse("classifier:dataset-detail", args=[theirs.pk]))

    assert response.status_code == 404
    assert 'id="error-404"' in response.text
    assert "Bob's birds" not in response.text and "Bob&#x27;s birds" not in response.text


@override_settings(DEBUG=False)
def test_an_unknown_address_gets_the_styled_404_signed_out(client):
    response = client.get("/no/such/page/")

    assert response.status_code == 404
    assert 'id="error-404"' in response.text
    assert "Sign in" in response.text


@override_settings(DEBUG=False)
def test_the_api_still_answers_json_404s(user_api):
    response = user_api.get("/api/v1/datasets/999999/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "No Dataset matches the given query."}


@override_settings(DEBUG=False, ROOT_URLCONF=__name__)
def test_a_refusal_gets_the_styled_403_with_its_reason(user_client):
    response = user_client.get("/refused/")

    assert response.status_code == 403
    assert 'id="error-403"' in response.text
    assert "only staff can change it." in response.text
    assert _links(response.text) == ["/datasets/", "/predict/", "/"]


@override_settings(DEBUG=False, ROOT_URLCONF=__name__)
def test_a_crash_gets_the_static_500(client):
    client.raise_request_exception = False

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/broken/")

    assert response.status_code == 500
    assert 'id="error-500"' in response.text
    assert "sightline.css" in response.text
    assert not queries.captured_queries


def test_the_500_page_needs_no_context_and_links_to_real_pages():
    # Django's server_error renders it with no request and no context at all.
    html = render_to_string("500.html")

    assert _links(html) == ["/datasets/", "/predict/", "/"]
    assert resolve("/datasets/").view_name == "classifier:dataset-list"
    assert resolve("/predict/").view_name == "classifier:predict"


def test_a_forged_host_is_logged_in_one_line_without_a_traceback(client):
    # The handler LOGGING gives these records (pytest adds its own beside it).
    handler = next(handler for handler in logging.getLogger("django.security").handlers if handler.filters)
    logged = io.StringIO()
    stream = handler.setStream(logged)
    try:
        response = client.get("/api/v1/datasets/", HTTP_HOST="evil.example")
    finally:
        handler.setStream(stream)

    assert response.status_code == 400
    assert logged.getvalue().startswith("Invalid HTTP_HOST header: 'evil.example'.")
    assert "Traceback" not in logged.getvalue()
