"""Fetch an image a user names by URL without letting the URL reach into our own network (SSRF).

The host is resolved once and every address it resolves to must be public; the connection then goes
to the address that was checked, never through a second lookup (DNS rebinding), and TLS still checks
the certificate against the host name (the checks are ``services.url_targets``). Redirects are followed by
hand, each target checked the same way. Bytes are capped while streaming and the whole fetch has a deadline.
Every refusal is a ``UrlRefused``, a ``ValidationError({"url": ...})`` saying what was wrong.
"""

import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import unquote, urljoin

from django.conf import settings

from classifier.services.imaging import CheckedImage, ImageRejected, image_check
from classifier.services.quotas import QuotaExceeded
from classifier.services.url_targets import (
    DEFAULT_PORTS,
    Address,
    Target,
    UrlRefused,
    shown_url,
    target_addresses,
    url_target,
)
from webapp.host_slots import host_slot
from webapp.units import human_bytes

MAX_REDIRECTS = 3
_REDIRECT_STATUSES = {301, 302, 303, 307, 308}
_CHUNK_BYTES = 64 * 1024
# Answers that say "not now" rather than "never": worth another try after a pause.
_TEMPORARY_STATUSES = {408, 425, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class FetchedImage:
    image: CheckedImage
    # The last path segment of the URL the image came from, for the stored file's name.
    filename: str


@dataclass(frozen=True)
class FetchedContent:
    content: bytes
    # The URL the bytes came from, after redirects.
    url: str
    # Its last path segment, for the stored file's name.
    filename: str


class _PinnedConnection(http.client.HTTPConnection):
    """HTTP or HTTPS to an address already checked, whatever the host name would resolve to now."""

    def __init__(self, target: Target, address: Address, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self.target = target
        self.address = address
        # The Host header leaves out the port when it is the scheme's default.
        self.default_port = DEFAULT_PORTS[target.scheme]

    def connect(self) -> None:
        family, sockaddr = self.address
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(sockaddr)
            if self.target.scheme == "https":
                # Certificate and SNI for the host name, though the socket went to a fixed address.
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.target.host)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def _shutdown(sock: socket.socket) -> None:
    # Wakes a read blocked on a server that trickles bytes just fast enough to beat the read timeout.
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _get(target: Target, deadline: float) -> tuple[str | None, bytes]:
    """GET the target: ``(redirect location, b"")`` for a redirect, else ``(None, body)``."""
    timeout = settings.SIGHTLINE_URL_FETCH_TIMEOUT_SECONDS
    limit = settings.SIGHTLINE_MAX_IMAGE_BYTES
    last_error: OSError | None = None
    for address in target_addresses(target):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        connection = _PinnedConnection(target, address, timeout=min(timeout, remaining))
        watchdog: threading.Timer | None = None
        try:
            try:
                connection.connect()
            except (ssl.SSLError, TimeoutError):
                raise
            except OSError as error:
                # This address is unreachable (no IPv6 route, refused); the host's next one may answer.
                last_error = error
                continue
            # The socket itself, not the connection: http.client lets go of it once a response that
            # closes the connection has started, while the response goes on reading from it.
            watchdog = threading.Timer(max(deadline - time.monotonic(), 0.0), _shutdown, args=[connection.sock])
            watchdog.start()
            connection.request(
                "GET",
                target.path,
                headers={"User-Agent": "Sightline image fetcher", "Accept": "image/*", "Accept-Encoding": "identity"},
            )
            response = connection.getresponse()
            if response.status in _REDIRECT_STATUSES:
                location = response.getheader("Location")
                if not location:
                    raise UrlRefused(f"{shown_url(target.url)} redirects without saying where to.")
                return location, b""
            if response.status != 200:
                raise UrlRefused(
                    f"{shown_url(target.url)} answered HTTP {response.status} {response.reason}.",
                    reason="http_error",
                    status=response.status,
                    retry_after=response.getheader("Retry-After"),
                    temporary=response.status in _TEMPORARY_STATUSES,
                )
            declared = response.getheader("Content-Length", "")
            if declared.isdigit() and int(declared) > limit:
                raise UrlRefused(
                    f"{shown_url(target.url)} is {human_bytes(int(declared))}; the limit is {human_bytes(limit)}.",
                    reason="too_large",
                )
            return None, _read_body(target, response, deadline, limit)
        except ssl.SSLError as error:
            raise UrlRefused(f"A secure connection to {target.host} failed: {error.reason or error}.") from None
        except (TimeoutError, OSError, http.client.HTTPException) as error:
            if time.monotonic() >= deadline or isinstance(error, TimeoutError):
                raise _timed_out(target) from None
            message = f"{shown_url(target.url)} could not be read: {error or type(error).__name__}."
            raise UrlRefused(message, reason="unreachable", temporary=True) from None
        finally:
            if watchdog is not None:
                watchdog.cancel()
            connection.close()
    if last_error is not None:
        message = f"{target.host} could not be reached: {last_error.strerror or last_error}."
        raise UrlRefused(message, reason="unreachable", temporary=True)
    raise _timed_out(target)


def _read_body(target: Target, response: http.client.HTTPResponse, deadline: float, limit: int) -> bytes:
    chunks: list[bytes] = []
    received = 0
    while True:
        # At most one byte past the limit: enough to know the body is too large.
        chunk = response.read(min(_CHUNK_BYTES, limit + 1 - received))
        if time.monotonic() >= deadline:
            raise _timed_out(target)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        received += len(chunk)
        if received > limit:
            message = f"{shown_url(target.url)} is larger than the limit of {human_bytes(limit)}."
            raise UrlRefused(message, reason="too_large")


def _timed_out(target: Target) -> UrlRefused:
    seconds = settings.SIGHTLINE_URL_FETCH_DEADLINE_SECONDS
    per_step = settings.SIGHTLINE_URL_FETCH_TIMEOUT_SECONDS
    return UrlRefused(
        f"{shown_url(target.url)} timed out (each step may take {per_step:g} s, the whole fetch {seconds:g} s).",
        reason="timeout",
        temporary=True,
    )


def url_content_fetch(*, url: str) -> FetchedContent:
    """Download the bytes at ``url`` (following up to 3 redirects), not yet checked to be an image.

    Raises ``UrlRefused``. For callers that check and store the bytes themselves (URL-list imports
    store through ``image_add``, which checks them as uploads are checked).
    """
    deadline = time.monotonic() + settings.SIGHTLINE_URL_FETCH_DEADLINE_SECONDS
    target = url_target(url.strip())
    for redirects in range(MAX_REDIRECTS + 1):
        location, content = _get(target, deadline)
        if location is None:
            break
        if redirects == MAX_REDIRECTS:
            raise UrlRefused(f"{shown_url(url)} redirected more than {MAX_REDIRECTS} times.")
        target = url_target(urljoin(target.url, location))
    filename = unquote(target.path.split("?", 1)[0].rsplit("/", 1)[-1]) or target.host
    return FetchedContent(content=content, url=target.url, filename=filename[-200:])


def url_image_fetch(*, url: str) -> FetchedImage:
    """Download the image at ``url`` (following up to 3 redirects) and check it decodes as an image."""
    fetched = url_content_fetch(url=url)
    try:
        checked = image_check(content=fetched.content, filename=shown_url(fetched.url))
    except ImageRejected as rejection:
        raise UrlRefused(rejection.detail, reason=rejection.reason) from None
    return FetchedImage(image=checked, filename=fetched.filename)


# The quota name of a sync URL prediction refused because this host's web processes are fetching all they
# may at once.
URL_FETCHES_NOW = "url_fetches_now"


def url_image_fetch_now(*, url: str) -> FetchedImage:
    """``url_image_fetch`` for a request that waits for its answer (a sync prediction), at most
    ``SIGHTLINE_URL_FETCH_SYNC_CONCURRENCY`` at a time among all the web processes of this host.

    A fetch may hold its web process for the whole deadline (15 s), so without a bound a few slow URLs
    would occupy every process and the server would stop answering anything. Beyond it the request is
    refused at once (429); the queued predictions fetch on a worker, with no such bound.
    """
    allowed = settings.SIGHTLINE_URL_FETCH_SYNC_CONCURRENCY
    with host_slot("url-fetch-now", allowed) as held:
        if not held:
            raise QuotaExceeded(
                quota=URL_FETCHES_NOW,
                used=allowed,
                allowed=allowed,
                message=f"This server is already fetching {allowed} image URLs for answers now, its limit; "
                "send the image itself, queue the prediction (async), or try again in a few seconds.",
            )
        return url_image_fetch(url=url)

