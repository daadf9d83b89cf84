"""Staff deactivate an account from the admin: it keeps its data but its token and its sessions stop
working and it cannot sign in again."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from classifier.models import Dataset
from tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"


def _deactivate(user) -> None:
    user.is_active = False
    user.save(update_fields=["is_active"])


def test_a_deactivated_users_token_is_refused(user):
    token = Token.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get("/api/v1/datasets/").status_code == 200

    _deactivate(user)
    response = client.get("/api/v1/datasets/")

    assert response.status_code == 401
    assert response.json() == {"detail": "User inactive or deleted."}


def test_a_deactivated_users_open_session_stops_working(client, user):
    client.force_login(user)
    _deactivate(user)

    assert client.get("/api/v1/datasets/").status_code == 401
    page = client.get(reverse("classifier:dataset-list"))
    assert page.status_code == 302
    assert page.url.startswith(reverse("login"))


def test_a_deactivated_user_cannot_sign_in_or_get_a_token(client, api_client, user):
    _deactivate(user)

    page = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    token = api_client.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}, format="json")

    assert page.status_code == 200
    assert "_auth_user_id" not in client.session
    assert token.status_code == 400
    assert not Token.objects.exists()


def test_staff_deactivate_selected_accounts_but_never_their_own(client, staff_user, user, other_user):
    DatasetFactory(owner=user)
    client.force_login(staff_user)
    User = get_user_model()

    listing = client.get("/admin/auth/user/")
    assert "Deactivate selected accounts" in listing.text
    assert "column-is_active" in listing.text
    response = client.post(
        "/admin/auth/user/",
        {"action": "deactivate_selected", "_selected_action": [user.pk, staff_user.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "1 account(s) deactivated. Your own account is never included." in response.text
    assert dict(User.objects.values_list("username", "is_active")) == {"alice": False, "bob": True, "carol": True}
    assert Dataset.objects.filter(owner=user).exists()
