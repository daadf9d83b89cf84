"""Repeated failed sign-ins lock a username out from an address for a while (django-axes), on the
sign-in page, the admin's sign-in and the token endpoint alike; the right password is refused meanwhile."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"
PASSWORD = "correct-horse-battery"
LOCKED = "Too many failed sign-in attempts: this account is locked for 15 minutes from your address. Try again later."


@pytest.fixture(autouse=True)
def _rates_out_of_the_way(settings):
    # The per-address rate limits would answer first; these tests are about the lockout alone.
    settings.SIGHTLINE_THROTTLE_RATES = {**settings.SIGHTLINE_THROTTLE_RATES, "login": "1000/min", "token": "1000/min"}


def _sign_in(client, password: str, username: str = "alice", path: str = "/login/", **extra):
    return client.post(path, {"username": username, "password": password}, **extra)


def test_the_configured_limit_is_ten_failures_for_fifteen_minutes():
    assert settings.AXES_FAILURE_LIMIT == 10
    assert settings.AXES_COOLOFF_TIME == timedelta(minutes=15)


def test_the_sign_in_page_locks_out_after_ten_failures_and_refuses_the_right_password(client, user):
    for _ in range(9):
        page = _sign_in(client, "wrong")
        assert page.status_code == 200
        assert "Please enter a correct username and password." in page.text

    tenth = _sign_in(client, "wrong")
    right = _sign_in(client, PASSWORD)

    for refused in (tenth, right):
        assert refused.status_code == 429
        assert LOCKED in refused.text
        assert refused["Retry-After"] == "900"
    assert "_auth_user_id" not in client.session
    user.refresh_from_db()
    assert user.last_login is None


def test_the_lockout_ends_after_the_cool_off(client, user):
    for _ in range(10):
        _sign_in(client, "wrong")
    assert _sign_in(client, PASSWORD).status_code == 429

    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16))
    response = _sign_in(client, PASSWORD)

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_the_lockout_is_for_that_username_from_that_address(client, user, other_user):
    for _ in range(10):
        _sign_in(client, "wrong")

    assert _sign_in(client, PASSWORD, username="bob").status_code == 302
    client.logout()
    assert _sign_in(client, PASSWORD, REMOTE_ADDR="198.51.100.4").status_code == 302


def test_a_forged_x_forwarded_for_does_not_reset_the_count(client, user):
    for n in range(10):
        _sign_in(client, "wrong", HTTP_X_FORWARDED_FOR=f"10.0.{n}.1")

    assert _sign_in(client, PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.77").status_code == 429


def test_a_successful_sign_in_starts_the_count_again(client, user):
    for _ in range(9):
        _sign_in(client, "wrong")
    assert _sign_in(client, PASSWORD).status_code == 302
    client.logout()

    for _ in range(9):
        assert _sign_in(client, "wrong").status_code == 200
    assert _sign_in(client, PASSWORD).status_code == 302


def test_the_token_endpoint_locks_out_with_a_json_429_and_issues_no_token(api_client, user):
    for _ in range(9):
        response = api_client.post(TOKEN_URL, {"username": "alice", "password": "wrong"}, format="json")
        assert response.status_code == 400
        assert response.json() == {"non_field_errors": ["Unable to log in with provided credentials."]}

    tenth = api_client.post(TOKEN_URL, {"username": "alice", "password": "wrong"}, format="json")
    right = api_client.post(TOKEN_URL, {"username": "alice", "password": PASSWORD}, format="json")

    for refused in (tenth, right):
        assert refused.status_code == 429
        assert refused.json() == {"detail": LOCKED}
        assert refused["Retry-After"] == "900"
    assert not Token.objects.exists()


def test_failures_on_the_token_endpoint_and_the_page_count_together(client, api_client, user):
    for _ in range(5):
        api_client.post(TOKEN_URL, {"username": "alice", "password": "wrong"}, format="json")
    for _ in range(5):
        _sign_in(client, "wrong")

    assert api_client.post(TOKEN_URL, {"username": "alice", "password": PASSWORD}).status_code == 429
    assert _sign_in(client, PASSWORD).status_code == 429


def test_the_admin_sign_in_locks_out_too(client, staff_user):
    for _ in range(10):
        _sign_in(client, "wrong", username="carol", path="/admin/login/")

    refused = _sign_in(client, PASSWORD, username="carol", path="/admin/login/")

    assert refused.status_code == 429
    assert LOCKED in refused.text
    assert "_auth_user_id" not in client.session


def test_staff_see_lockouts_in_the_admin(client, user, staff_user):
    for _ in range(10):
        _sign_in(client, "wrong")
    client.force_login(staff_user)

    page = client.get("/admin/axes/accessattempt/")

    assert page.status_code == 200
    assert "alice" in page.text
