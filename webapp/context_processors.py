"""Template context every page gets: whether to offer sign-up."""

from django.conf import settings
from django.http import HttpRequest


def signup(request: HttpRequest) -> dict:
    return {"signup_mode": settings.SIGHTLINE_SIGNUP, "signup_offered": settings.SIGHTLINE_SIGNUP != "closed"}
