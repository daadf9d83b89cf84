"""Who may sign up (SIGHTLINE_SIGNUP): anyone, holders of an unused invitation code, or nobody; a refused
sign-up creates no account and uses up no invitation."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from webapp.models import Invitation
from webapp.services import user_sign_up

pytestmark = pytest.mark.django_db

User = get_user_model()
NEW_PASSWORD = "a-Long-pass-4321"
REFUSED_CODE = "This invitation code is unknown, already used or expired."
CLOSED = "Sign-up is closed on this server. Ask its administrators for an account."


def _sign_up(client, username: str = "dana", **extra):
    return client.post(
        reverse("signup"), {"username": username, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD, **extra}
    )


@pytest.fixture
def invite_only(settings):
    settings.SIGHTLINE_SIGNUP = "invite"


@pytest.fixture
def closed(settings):
    settings.SIGHTLINE_SIGNUP = "closed"


@pytest.fixture
def invitation(staff_user):
    return Invitation.objects.create(created_by=staff_user, note="for dana")


# Open (the default)


def test_open_sign_up_asks_for_no_code(client):
    assert 'name="invitation_code"' not in client.get(reverse("signup")).text

    assert _sign_up(client).status_code == 302
    assert User.objects.filter(username="dana").exists()


# By invitation


def test_an_invitation_link_fills_the_code_in(client, invite_only, invitation):
    page = client.get(f"{reverse('signup')}?code={invitation.code}")

    assert page.status_code == 200
    assert "Sign-up is by invitation" in page.text
    assert f'value="{invitation.code}"' in page.text


def test_a_valid_code_creates_the_account_and_is_used_up(client, invite_only, invitation):
    response = _sign_up(client, invitation_code=invitation.code)

    assert response.status_code == 302
    dana = User.objects.get(username="dana")
    invitation.refresh_from_db()
    assert invitation.used_by == dana and invitation.used_at is not None
    assert client.session["_auth_user_id"] == str(dana.pk)


def test_a_used_code_is_refused_and_changes_nothing(client, invite_only, invitation):
    _sign_up(client, invitation_code=invitation.code)
    client.logout()
    first_use = Invitation.objects.values("used_by", "used_at").get()

    page = _sign_up(client, username="eve", invitation_code=invitation.code)

    assert page.status_code == 200
    assert REFUSED_CODE in page.text
    assert not User.objects.filter(username="eve").exists()
    assert Invitation.objects.values("used_by", "used_at").get() == first_use


@pytest.mark.parametrize("code", ["not-a-code", ""])
def test_an_unknown_or_missing_code_is_refused(client, invite_only, invitation, code):
    page = _sign_up(client, invitation_code=code)

    assert page.status_code == 200
    assert (REFUSED_CODE if code else "This field is required.") in page.text
    assert not User.objects.filter(username="dana").exists()
    invitation.refresh_from_db()
    assert invitation.used_at is None


def test_an_expired_code_is_refused(client, invite_only, invitation):
    Invitation.objects.update(expires_at=timezone.now() - timedelta(minutes=1))

    page = _sign_up(client, invitation_code=invitation.code)

    assert REFUSED_CODE in page.text
    assert not User.objects.filter(username="dana").exists()


def test_a_code_used_between_the_form_check_and_the_sign_up_rolls_the_account_back(invite_only, invitation, user):
    Invitation.objects.update(used_by=user, used_at=timezone.now())

    with pytest.raises(ValidationError) as refusal:
        user_sign_up(username="dana", password=NEW_PASSWORD, invitation_code=invitation.code)

    assert refusal.value.message_dict == {"invitation_code": [REFUSED_CODE]}
    assert not User.objects.filter(username="dana").exists()


def test_staff_create_an_invitation_in_the_admin(client, staff_user, settings):
    client.force_login(staff_user)

    response = client.post(
        "/admin/webapp/invitation/add/", {"note": "for frank", "expires_at_0": "2099-01-01", "expires_at_1": "12:00:00"}
    )

    assert response.status_code == 302
    invitation = Invitation.objects.get()
    assert (invitation.note, invitation.created_by, invitation.used_at) == ("for frank", staff_user, None)
    assert len(invitation.code) >= 16
    change_page = client.get(f"/admin/webapp/invitation/{invitation.pk}/change/").text
    assert f"/signup/?code={invitation.code}" in change_page


# Closed


def test_closed_sign_up_says_so_and_hides_its_links(client, closed):
    page = client.get(reverse("signup"))

    assert page.status_code == 200
    assert CLOSED in page.text
    assert 'name="password2"' not in page.text
    login_page = client.get(reverse("login")).text
    assert f'href="{reverse("signup")}"' not in login_page


def test_closed_sign_up_refuses_a_post_with_403_and_creates_nothing(client, closed):
    response = _sign_up(client)

    assert response.status_code == 403
    assert CLOSED in response.text
    assert not User.objects.exists()
    assert "_auth_user_id" not in client.session


def test_closed_sign_up_is_refused_by_the_service_too(closed):
    with pytest.raises(PermissionDenied):
        user_sign_up(username="dana", password=NEW_PASSWORD)

    assert not User.objects.exists()


def test_open_sign_up_shows_its_links(client):
    assert f'href="{reverse("signup")}"' in client.get(reverse("login")).text
