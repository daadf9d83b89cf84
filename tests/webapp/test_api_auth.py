"""The token exchange, token and session authentication, and anonymous access to the API."""

import pytest
from rest_framework.test import APIClient

from tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"
PASSWORD = "correct-horse-battery"  # what tests.factories.UserFactory sets


def test_token_from_password_authenticates_api_requests(user, other_user, api_client):
    own = DatasetFactory(owner=user)
    DatasetFactory(owner=other_user)

    response = api_client.post(TOKEN_URL, {"username": "alice", "password": PASSWORD}, format="json")

    assert response.status_code == 200
    token = response.json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    listing = client.get("/api/v1/datasets/")
    assert listing.status_code == 200
    assert [d["id"] for d in listing.json()["results"]] == [own.id]


def test_token_exchange_accepts_form_data_and_returns_the_same_token(user, api_client):
    first = api_client.post(TOKEN_URL, {"username": "alice", "password": PASSWORD}, format="json")
    second = api_client.post(TOKEN_URL, {"username": "alice", "password": PASSWORD})  # multipart form

    assert second.status_code == 200
    assert second.json()["token"] == first.json()["token"]


def test_wrong_password_is_400_with_a_clear_message(user, api_client):
    response = api_client.post(TOKEN_URL, {"username": "alice", "password": "wrong"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Unable to log in with provided credentials."]}


def test_inactive_user_gets_no_token(user, api_client):
    user.is_active = False
    user.save()

    response = api_client.post(TOKEN_URL, {"username": "alice", "password": PASSWORD}, format="json")

    assert response.status_code == 400


def test_token_exchange_names_missing_fields(api_client):
    response = api_client.post(TOKEN_URL, {}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "username": ["This field is required."],
        "password": ["This field is required."],
    }


def test_unknown_token_is_401(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = client.get("/api/v1/datasets/")

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


def test_anonymous_request_is_401_and_names_the_token_scheme(api_client):
    response = api_client.get("/api/v1/datasets/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_session_login_works_for_the_pages_own_calls(client, user):
    client.force_login(user)

    response = client.get("/api/v1/datasets/")

    assert response.status_code == 200
