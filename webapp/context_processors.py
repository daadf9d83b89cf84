"""Template context every page gets: whether to offer sign-up."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def signup(request: HttpRequest) -> dict[str, Any]:
    return {"signup_mode": settings.SIGHTLINE_SIGNUP, "signup_offered": settings.SIGHTLINE_SIGNUP != "closed"}
