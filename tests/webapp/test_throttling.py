"""Rate limits a hostile client cannot dodge: keyed on the connection's address (a forged X-Forwarded-For
changes nothing unless a trusted proxy is configured), counted in the shared cache, on the token
endpoint and the sign-in and sign-up pages; over the limit, a 429 saying which limit and when to retry."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from django.test import RequestFactory
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import Throttled

from tests.webapp.redis_support import REDIS_URL, redis_or_skip
from webapp.throttling import AddressRateThrottle, client_address

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
TOKEN_URL = "/api/v1/auth/token/"
PASSWORD = "correct-horse-battery"


@pytest.fixture
def clock(monkeypatch):
    """The throttles' clock, frozen (so "try again in 60 seconds" is exact) and movable."""
    now = [1_000_000.0]
    monkeypatch.setattr(AddressRateThrottle, "timer", staticmethod(lambda: now[0]))
    return now


@pytest.fixture
def rates(settings):
    """Set some rates for one test; the others keep their configured values."""

    def set_rates(**scopes: str) -> None:
        settings.SIGHTLINE_THROTTLE_RATES = {**settings.SIGHTLINE_THROTTLE_RATES, **scopes}

    return set_rates


# The client's address


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "", "10.0.0.5"),
        (0, "203.0.113.7", "10.0.0.5"),  # no trusted proxy: the header is the client's own words
        (1, "", "10.0.0.5"),
        (1, "203.0.113.7", "203.0.113.7"),
        (1, "1.2.3.4, 203.0.113.7", "203.0.113.7"),  # the proxy appended the right-most entry
        (2, "1.2.3.4, 203.0.113.7, 10.0.0.9", "203.0.113.7"),
        (3, "203.0.113.7", "203.0.113.7"),  # fewer entries than proxies: the left-most there is
    ],
)
def test_the_client_address_trusts_only_what_configured_proxies_wrote(settings, proxies, forwarded, expected):
    settings.SIGHTLINE_TRUSTED_PROXIES = proxies
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.5", **extra)

    assert client_address(request) == expected


# The token endpoint


def test_a_rotating_x_forwarded_for_does_not_escape_the_token_rate_limit(api_client, user, rates, clock):
    rates(token="5/min")
    for attempt in range(5):
        response = api_client.post(
            TOKEN_URL,
            {"username": "alice", "password": f"guess-{attempt}"},
            HTTP_X_FORWARDED_FOR=f"198.51.100.{attempt}",
        )
        assert response.status_code == 400

    # Even the right password from a "new" address: the connection is the same client.
    refused = api_client.post(TOKEN_URL, {"username": "alice", "password": PASSWORD}, HTTP_X_FORWARDED_FOR="192.0.2.99")

    assert refused.status_code == 429
    assert refused.json() == {
        "detail": "Rate limit reached: 5 of 5 sign-in attempts per minute from your address used. "
        "Expected available in 60 seconds."
    }
    assert refused["Retry-After"] == "60"
    assert not Token.objects.exists()

    clock[0] += 61
    assert api_client.post(TOKEN_URL, {"username": "alice", "password": PASSWORD}).status_code == 200


def test_80_wrong_passwords_with_a_rotating_header_are_mostly_refused(api_client, user):
    """The issue's attack at the configured limits: no more guesses are checked than they allow."""
    statuses = [
        api_client.post(
            TOKEN_URL, {"username": "alice", "password": f"guess-{n}"}, HTTP_X_FORWARDED_FOR=f"10.{n}.0.1"
        ).status_code
        for n in range(80)
    ]

    # Nine wrong passwords are answered; the tenth locks the username out (test_login_lockout), and the
    # rate limit refuses everything after it.
    assert statuses == [400] * 9 + [429] * 71


def test_behind_a_trusted_proxy_the_forwarded_address_counts(api_client, user, settings, rates, clock):
    settings.SIGHTLINE_TRUSTED_PROXIES = 1
    rates(token="3/min")

    def attempt(forwarded: str) -> int:
        return api_client.post(
            TOKEN_URL, {"username": "alice", "password": "wrong"}, HTTP_X_FORWARDED_FOR=forwarded
        ).status_code

    assert [attempt("203.0.113.7") for _ in range(3)] == [400, 400, 400]
    assert attempt("203.0.113.7") == 429
    # The client wrote the left part itself; the proxy's own entry is the one that counts.
    assert attempt("1.2.3.4, 203.0.113.7") == 429
    # Another client behind the same proxy has its own count.
    assert attempt("198.51.100.9") == 400


# The pages


def test_sign_in_page_posts_are_rate_limited_whatever_the_header_says(client, user, rates, clock):
    rates(login="3/min")
    for n in range(3):
        page = client.post(
            reverse("login"), {"username": "alice", "password": "wrong"}, HTTP_X_FORWARDED_FOR=f"10.0.0.{n}"
        )
        assert page.status_code == 200

    refused = client.post(
        reverse("login"), {"username": "alice", "password": PASSWORD}, HTTP_X_FORWARDED_FOR="10.9.9.9"
    )

    assert refused.status_code == 429
    assert refused["Retry-After"] == "60"
    assert (
        "Rate limit reached: 3 of 3 sign-in attempts per minute from your address used. "
        "Expected available in 60 seconds." in refused.text
    )
    assert "_auth_user_id" not in client.session
    # Reading the page is not an attempt.
    assert client.get(reverse("login")).status_code == 200


def test_the_admin_sign_in_counts_with_the_pages(client, staff_user, rates, clock):
    rates(login="2/min")
    client.post(reverse("login"), {"username": "carol", "password": "wrong"})
    client.post("/admin/login/", {"username": "carol", "password": "wrong"})

    refused = client.post("/admin/login/", {"username": "carol", "password": PASSWORD})

    assert refused.status_code == 429
    assert "2 of 2 sign-in attempts per minute" in refused.text
    assert "_auth_user_id" not in client.session


def test_sign_up_posts_are_rate_limited_and_create_nothing_once_over(client, rates, clock):
    rates(signup="2/hour")
    for n in range(2):
        page = client.post(reverse("signup"), {"username": f"try{n}", "password1": "x", "password2": "y"})
        assert page.status_code == 200

    refused = client.post(
        reverse("signup"),
        {"username": "dana", "password1": "a-Long-pass-4321", "password2": "a-Long-pass-4321"},
        HTTP_X_FORWARDED_FOR="192.0.2.1",
    )

    assert refused.status_code == 429
    assert refused["Retry-After"] == "3600"
    assert "Rate limit reached: 2 of 2 sign-up attempts per hour from your address used." in refused.text
    assert not get_user_model().objects.exists()


# The shared cache


def _throttle_on(cache) -> AddressRateThrottle:
    throttle = AddressRateThrottle("token")
    throttle.cache = cache
    return throttle


def _allowed(throttle: AddressRateThrottle) -> bool:
    try:
        return throttle.allow_request(RequestFactory().post("/", REMOTE_ADDR="203.0.113.7"), None)
    except Throttled:
        return False


def test_two_web_processes_share_one_count_through_redis(rates):
    redis_or_skip()
    rates(token="4/min")
    prefix = f"test-shared-{uuid.uuid4().hex}"
    # Two clients of their own, as two gunicorn workers have.
    first, second = (RedisCache(REDIS_URL, {"KEY_PREFIX": prefix}) for _ in range(2))
    try:
        answers = [_allowed(_throttle_on(cache)) for cache in (first, second, first, second, first, second)]
    finally:
        first.delete_many(["rate_token_203.0.113.7"])

    assert answers == [True, True, True, True, False, False]


def test_without_a_shared_cache_each_process_counts_alone(rates):
    """Why production sets SIGHTLINE_CACHE_URL: process-local memory lets each worker allow the full rate."""
    rates(token="2/min")
    first, second = LocMemCache(f"a-{uuid.uuid4().hex}", {}), LocMemCache(f"b-{uuid.uuid4().hex}", {})

    answers = [_allowed(_throttle_on(cache)) for cache in (first, second, first, second, first, second)]

    assert answers == [True, True, True, True, False, False]


# When the counts cannot be read


@pytest.fixture
def redis_not_answering(settings):
    """The cache pointed at a port nothing listens on: every count fails to connect at once."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }


def test_without_the_counts_the_token_endpoint_says_503_and_checks_no_password(api_client, user, redis_not_answering):
    response = api_client.post(TOKEN_URL, {"username": "alice", "password": PASSWORD})

    assert response.status_code == 503
    assert response.json() == {
        "detail": "Sightline cannot check its rate limits right now (the store that keeps their counts does not "
        "answer). Nothing was done; try again in a minute."
    }
    assert not Token.objects.exists()


def test_without_the_counts_sign_in_and_sign_up_pages_say_503_and_do_nothing(client, user, redis_not_answering):
    signed_in = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    signed_up = client.post(
        reverse("signup"), {"username": "dana", "password1": "a-Long-pass-4321", "password2": "a-Long-pass-4321"}
    )

    assert (signed_in.status_code, signed_up.status_code) == (503, 503)
    assert "cannot check its rate limits right now" in signed_in.text
    assert "_auth_user_id" not in client.session
    assert list(get_user_model().objects.values_list("username", flat=True)) == ["alice"]


# Settings


_SETTINGS_PRINTED = (
    "s.CACHES['default']['BACKEND'], s.CACHES['default']['LOCATION'], s.SECURE_PROXY_SSL_HEADER, "
    "s.REST_FRAMEWORK['NUM_PROXIES'], s.SIGHTLINE_SIGNUP"
)


def _settings_with(printed: str = _SETTINGS_PRINTED, **env: str) -> subprocess.CompletedProcess:
    """The settings module loaded in a fresh process with ``env`` (no other SIGHTLINE_ variable), printing
    ``printed`` (expressions of the module, ``s``)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SIGHTLINE_") or k == "SIGHTLINE_VAR_DIR"}
    clean.update(SIGHTLINE_DEV="1", **env)
    code = f"import webapp.settings as s; print({printed})"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60)


def test_settings_default_to_process_memory_no_proxy_and_open_sign_up():
    result = _settings_with()

    assert result.stdout.split() == ["django.core.cache.backends.locmem.LocMemCache", "sightline", "None", "0", "open"]


def test_settings_use_redis_and_trust_proxies_only_when_told():
    result = _settings_with(
        SIGHTLINE_CACHE_URL="redis://redis:6379/1", SIGHTLINE_TRUSTED_PROXIES="1", SIGHTLINE_SIGNUP="Invite"
    )

    assert result.stdout.split() == [
        "django.core.cache.backends.redis.RedisCache",
        "redis://redis:6379/1",
        "('HTTP_X_FORWARDED_PROTO',",
        "'https')",
        "1",
        "invite",
    ]


def test_settings_bound_the_wait_for_redis():
    result = _settings_with(
        "sorted(s.CACHES['default']['OPTIONS'].items())",
        SIGHTLINE_CACHE_URL="redis://redis:6379/1",
        SIGHTLINE_CACHE_TIMEOUT="3",
    )

    assert result.stdout.strip() == "[('socket_connect_timeout', 3), ('socket_timeout', 3)]"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SIGHTLINE_CACHE_TIMEOUT": "0"}, "SIGHTLINE_CACHE_TIMEOUT must be 1 (second) or more."),
        ({"SIGHTLINE_SIGNUP": "sometimes"}, 'SIGHTLINE_SIGNUP must be "open", "invite" or "closed".'),
        ({"SIGHTLINE_THROTTLE_TOKEN": "ten a minute"}, 'SIGHTLINE_THROTTLE_TOKEN must read like "10/min"'),
        ({"SIGHTLINE_TRUSTED_PROXIES": "-1"}, "SIGHTLINE_TRUSTED_PROXIES must be 0 or more."),
    ],
)
def test_settings_refuse_a_bad_value_naming_it(env, message):
    result = _settings_with(**env)

    assert result.returncode != 0
    assert message in result.stderr
