"""Sending a stored file, from page and API views alike: streamed from ``default_storage`` (workers and
web processes may be different machines), or a 404 that says what is missing."""

import mimetypes
import posixpath

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404


def stored_file_response(
    name: str, *, missing: str, download_name: str = "", as_attachment: bool = False, content_type: str = ""
) -> FileResponse:
    """Stream the stored file ``name``, sent as ``download_name`` (default: its own name) with the type
    that name suggests unless ``content_type`` is given.

    An empty name or a file gone from storage is a 404 with ``missing`` as its message; DRF answers it
    as its usual ``{"detail": missing}``.
    """
    if not name:
        raise Http404(missing)
    try:
        file = default_storage.open(name, "rb")
    except FileNotFoundError as exc:
        raise Http404(missing) from exc
    filename = download_name or posixpath.basename(name)
    content_type = content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
    return FileResponse(file, as_attachment=as_attachment, filename=filename, content_type=content_type)
