"""Sending a stored file, from page and API views alike: streamed from ``default_storage`` (workers and
web processes may be different machines), or a 404 that says what is missing. With S3 storage and
SIGHTLINE_PRESIGNED_DOWNLOADS on, an attachment (an export, a result CSV) is a redirect to a short-lived
presigned URL instead: the view has checked ownership already, and the URL expires after
AWS_QUERYSTRING_EXPIRE seconds. Images shown in pages stay streamed: browsers keep them (and would keep a
redirect) for longer than a presigned URL lives."""

import mimetypes
import posixpath

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.utils.http import content_disposition_header


def stored_file_response(
    name: str | None,
    *,
    missing: str,
    download_name: str = "",
    as_attachment: bool = False,
    content_type: str = "",
) -> FileResponse | HttpResponseRedirect:
    """Stream the stored file ``name``, sent as ``download_name`` (default: its own name) with the type
    that name suggests unless ``content_type`` is given.

    No name, an empty one or a file gone from storage is a 404 with ``missing`` as its message; DRF answers it
    as its usual ``{"detail": missing}``.
    """
    if not name:
        raise Http404(missing)
    if as_attachment and _presigned():
        return _presigned_redirect(name, missing=missing, download_name=download_name, content_type=content_type)
    try:
        file = default_storage.open(name, "rb")
    except FileNotFoundError as exc:
        raise Http404(missing) from exc
    filename = download_name or posixpath.basename(name)
    content_type = _type_of(filename, content_type)
    return FileResponse(file, as_attachment=as_attachment, filename=filename, content_type=content_type)


def _type_of(filename: str, content_type: str) -> str:
    return content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"


def _presigned() -> bool:
    return settings.SIGHTLINE_PRESIGNED_DOWNLOADS and bool(getattr(default_storage, "querystring_auth", False))


def _presigned_redirect(name: str, *, missing: str, download_name: str, content_type: str) -> HttpResponseRedirect:
    if not default_storage.exists(name):
        raise Http404(missing)
    filename = download_name or posixpath.basename(name)
    # The bucket answers with the same name and type the streamed response would carry.
    parameters = {
        "ResponseContentType": _type_of(filename, content_type),
        "ResponseContentDisposition": content_disposition_header(True, filename),
    }
    # Only reached with S3 storage (``_presigned``), whose ``url`` takes the response parameters.
    return HttpResponseRedirect(default_storage.url(name, parameters=parameters))  # type: ignore[call-arg]
