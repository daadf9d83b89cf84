"""Fixtures every test can use: a user/other_user/staff trio, API clients, and media in a temp dir."""

import os
import uuid

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.factories import UserFactory
from tests.storage_s3 import s3_server, s3_storage  # noqa: F401 - fixtures: a real S3 server process


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    # Every test writes files into its own folder, never into the developer's var/media.
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SIGHTLINE_FEATURE_CACHE_DIR = tmp_path / "feature-cache"
    # Host-wide bounds (webapp.host_slots) are per test: parallel test processes share the host.
    settings.SIGHTLINE_LOCK_DIR = tmp_path / "locks"
    # Real password hashing dominates set-up time and proves nothing here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _storage_chosen_by_environment(request):
    """SIGHTLINE_TEST_STORAGE=s3 runs every test on a bucket of the moto S3 server (tests/storage_s3.py)
    instead of MEDIA_ROOT, to run existing suites against object storage."""
    if os.environ.get("SIGHTLINE_TEST_STORAGE", "local") == "s3":
        request.getfixturevalue("s3_storage")


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    """Each test counts its rate limits from zero: its own key prefix in the configured cache (memory, or
    Redis with SIGHTLINE_CACHE_URL), so no count is flushed from under anything else using that cache."""
    settings.CACHES = {
        alias: {**config, "KEY_PREFIX": f"test-{uuid.uuid4().hex}"} for alias, config in settings.CACHES.items()
    }


# "Bounded reports": no API answer in the suite may grow past this, whatever a test puts in the database.
API_RESPONSE_MAX_BYTES = 1024 * 1024


@pytest.fixture(autouse=True)
def _api_responses_stay_small(monkeypatch):
    """Fail the test whose client gets an /api/ response over 1 MB. File downloads are streamed and
    not counted: their size is the file's."""
    real_request = Client.request

    def bounded_request(self, **request):
        response = real_request(self, **request)
        path = request.get("PATH_INFO", "")
        if path.startswith("/api/") and not response.streaming and len(response.content) > API_RESPONSE_MAX_BYTES:
            pytest.fail(f"{request.get('REQUEST_METHOD')} {path} answered {len(response.content):,} bytes (over 1 MB).")
        return response

    monkeypatch.setattr(Client, "request", bounded_request)


@pytest.fixture
def user(db):
    return UserFactory(username="alice")


@pytest.fixture
def other_user(db):
    return UserFactory(username="bob")


@pytest.fixture
def staff_user(db):
    return UserFactory(username="carol", is_staff=True, is_superuser=True)


def _api_client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=user)
    return client


@pytest.fixture
def api_client():
    """An anonymous API client."""
    return APIClient()


@pytest.fixture
def user_api(user):
    return _api_client_for(user)


@pytest.fixture
def other_api(other_user):
    return _api_client_for(other_user)


@pytest.fixture
def staff_api(staff_user):
    return _api_client_for(staff_user)


@pytest.fixture
def user_client(client, user):
    """A Django test client signed in as ``user``, for page tests."""
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def _tasks_run_eagerly(request):
    """Tasks run inline (through on_commit) except in tests that drive a real worker."""
    from webapp.celery import app as celery_app

    if request.node.get_closest_marker("worker"):
        yield
        return
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so a fixture's teardown can tell that the test failed
    (the browser fixture then saves a screenshot of what the user would have seen)."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report
