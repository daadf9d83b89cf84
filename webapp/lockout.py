"""What a locked-out sign-in gets (django-axes calls this): a 429 page, or JSON from the API, saying for how
long, with Retry-After."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


def lockout_message() -> str:
    return settings.AXES_COOLOFF_MESSAGE


def lockout_retry_after() -> str:
    return str(int(settings.AXES_COOLOFF_TIME.total_seconds()))


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": lockout_message()}, status=429)
    else:
        response = render(request, "429.html", {"message": lockout_message()}, status=429)
    response["Retry-After"] = lockout_retry_after()
    return response
