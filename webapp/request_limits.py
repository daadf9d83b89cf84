"""Request bodies are bounded by their declared size before a byte of them is read.

Django streams an upload to memory or disk while parsing it, and only then do the upload limits apply,
so a 3 GB body to any address would be read in full before being refused. This middleware looks at
``Content-Length`` when the view is known, and answers 413 naming the limit at once: archives (imports,
batch predictions) may be as large as ``SIGHTLINE_MAX_ARCHIVE_BYTES``, every other request
``SIGHTLINE_MAX_REQUEST_BYTES``. It must run before ``CsrfViewMiddleware``, which reads a form's body.
"""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from webapp.units import human_bytes

# The views that take an archive (routes by "namespace:name"); every other view takes an ordinary body.
ARCHIVE_ROUTES = frozenset(
    {
        "classifier_api:dataset-imports",
        "classifier_api:model-version-batch-predictions",
        "classifier:dataset-import",
    }
)
# Beyond the archive itself: the form's other fields and a labels CSV.
ARCHIVE_FORM_ALLOWANCE = 16 * 1024 * 1024


def request_body_limit(route: str) -> tuple[int, str]:
    """The most bytes a request to ``route`` may declare, and the setting that says so."""
    if route in ARCHIVE_ROUTES:
        return settings.SIGHTLINE_MAX_ARCHIVE_BYTES + ARCHIVE_FORM_ALLOWANCE, "SIGHTLINE_MAX_ARCHIVE_BYTES"
    return settings.SIGHTLINE_MAX_REQUEST_BYTES, "SIGHTLINE_MAX_REQUEST_BYTES"


class RequestSizeLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., HttpResponse],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            # Django reads a malformed length as no body at all, so there is nothing to bound.
            return None
        match = request.resolver_match
        limit, setting = request_body_limit(match.view_name if match else "")
        if declared <= limit:
            return None
        message = (
            f"The request body is {human_bytes(declared)}; this address takes at most {human_bytes(limit)} "
            f"({setting})."
        )
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": message}, status=413)
        return render(request, "413.html", {"message": message}, status=413)
