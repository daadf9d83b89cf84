"""Pieces every page view shares: going back to the page a form was posted from, and showing a
service's refusal as messages."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme


def redirect_back(request: HttpRequest, fallback: str) -> HttpResponse:
    """Return to the page the form was on (its ``next`` field, with its filters and page number), if that
    page is ours; otherwise to ``fallback``. Checked, so a crafted form cannot send the user off-site."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False):
        return redirect(target)
    return redirect(fallback)


def flash_service_error(request: HttpRequest, error: ValidationError) -> None:
    """A service's refusal, for a view with no form to show it on: one error message per problem."""
    for message in error.messages:
        messages.error(request, message)
