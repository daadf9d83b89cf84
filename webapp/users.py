"""Who is asking: the signed-in user of a request, typed as one."""

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from rest_framework.request import Request


def request_user(request: HttpRequest | Request) -> User:
    """The signed-in user. Pages that call this require a sign-in (``login_required``), API views require
    one by default (``IsAuthenticated``) and the admin requires staff, so an anonymous request never gets
    here; this says so to the type checker, and refuses one (403) should a view forget."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user
