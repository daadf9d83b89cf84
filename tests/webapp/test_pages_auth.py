"""Account pages: sign up, sign in, sign out, the home redirect and the navigation they lead to."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"


def test_signup_creates_the_account_and_signs_in(client):
    response = client.post(
        reverse("signup"),
        {
            "username": "dana",
            "email": "dana@example.com",
            "password1": "a-Long-pass-4321",
            "password2": "a-Long-pass-4321",
        },
    )

    assert response.status_code == 302
    assert response.url == reverse("classifier:dataset-list")
    assert get_user_model().objects.get(username="dana").email == "dana@example.com"
    assert client.get(reverse("classifier:dataset-list")).status_code == 200


def test_signup_shows_why_the_form_was_refused(client, user):
    response = client.post(
        reverse("signup"),
        {"username": "alice", "password1": "a-Long-pass-4321", "password2": "another-pass-9876"},
    )

    assert response.status_code == 200
    assert "A user with that username already exists." in response.text
    assert "The two password fields didn’t match." in response.text
    assert get_user_model().objects.filter(username="alice").count() == 1


def test_signup_page_renders(client):
    page = client.get(reverse("signup"))

    assert page.status_code == 200
    assert 'name="password2"' in page.text


def test_members_skip_the_signup_page(user_client):
    response = user_client.get(reverse("signup"))

    assert response.status_code == 302
    assert response.url == reverse("classifier:dataset-list")


def test_sign_in_goes_to_the_datasets(client, user):
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert 'name="password"' in page.text

    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})

    assert response.status_code == 302
    assert response.url == reverse("classifier:dataset-list")


def test_sign_in_returns_to_the_page_asked_for(client, user):
    jobs = reverse("training_jobs:job-list")

    response = client.post(
        f"{reverse('login')}?next={jobs}", {"username": "alice", "password": PASSWORD, "next": jobs}
    )

    assert response.url == jobs


def test_sign_in_with_a_wrong_password_says_so(client, user):
    response = client.post(reverse("login"), {"username": "alice", "password": "wrong"})

    assert response.status_code == 200
    assert "Please enter a correct username and password." in response.text
    assert "_auth_user_id" not in client.session


def test_sign_out_is_a_post(user_client):
    assert user_client.get(reverse("logout")).status_code == 405

    response = user_client.post(reverse("logout"))

    assert response.status_code == 302
    assert response.url == reverse("login")
    assert "_auth_user_id" not in user_client.session


def test_home_sends_strangers_to_sign_in(client):
    response = client.get("/", follow=True)

    assert response.redirect_chain[0][0] == reverse("classifier:dataset-list")
    assert response.request["PATH_INFO"] == reverse("login")


def test_home_sends_members_to_their_datasets(user_client):
    response = user_client.get("/")

    assert response.status_code == 302
    assert response.url == reverse("classifier:dataset-list")


def test_navigation_links_pages_docs_and_sign_out(user_client):
    page = user_client.get(reverse("classifier:dataset-list")).text

    assert f'href="{reverse("classifier:dataset-list")}"' in page
    assert f'href="{reverse("training_jobs:job-list")}"' in page
    assert 'href="/api/v1/docs/"' in page
    assert f'action="{reverse("logout")}"' in page
    assert "alice" in page
    assert 'href="/admin/"' not in page


def test_staff_see_the_admin_link(client, staff_user):
    client.force_login(staff_user)

    assert 'href="/admin/"' in client.get(reverse("classifier:dataset-list")).text


def test_pages_use_the_local_stylesheet_only(client):
    page = client.get(reverse("login")).text

    assert "/static/css/sightline.css" in page
    assert "cdn" not in page.lower()
    assert 'src="http' not in page and 'href="http' not in page
