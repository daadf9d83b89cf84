"""Fetch an image a user names by URL without letting the URL reach into our own network (SSRF).

The host is resolved once and every address it resolves to must be public; the connection then goes
to the address that was checked, never through a second lookup (DNS rebinding), and TLS still checks
the certificate against the host name. Redirects are followed by hand, each target checked the same
way. Bytes are capped while streaming and the whole fetch has a deadline. Every refusal is a
``ValidationError({"url": ...})`` saying what was wrong.
"""

import http.client
import ipaddress
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import quote, unquote, urljoin, urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from classifier.services.imaging import CheckedImage, ImageRejected, image_check
from webapp.units import human_bytes

MAX_REDIRECTS = 3
MAX_URL_LENGTH = 2000
_REDIRECT_STATUSES = {301, 302, 303, 307, 308}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_CHUNK_BYTES = 64 * 1024
# Characters a request line may carry as they are; anything else is percent-encoded (as browsers do).
_SAFE_URL_CHARACTERS = "!#$%&'()*+,/:;=?@[]~"
# NAT64 (RFC 6052) maps every IPv4 address into this prefix; a gateway would forward to the IPv4 one.
_NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")
# Name lookups of this process (see ``_addresses``).
_resolver = ThreadPoolExecutor(max_workers=8, thread_name_prefix="sightline-dns")


@dataclass(frozen=True)
class FetchedImage:
    image: CheckedImage
    # The last path segment of the URL the image came from, for the stored file's name.
    filename: str


@dataclass(frozen=True)
class _Target:
    url: str
    scheme: str
    host: str
    port: int
    # The request line's path and query.
    path: str


class UrlRefused(ValidationError):
    """A fetch that failed, as ``ValidationError({"url": message})`` for the forms and APIs that show it,
    with what went wrong for callers that sort or retry failures (URL-list imports).

    ``reason`` is "refused" (the URL or an address it leads to is not fetched), "timeout", "too_large",
    "http_error" (``status`` set), "unreachable" (no connection, or it broke) or an image check's reason;
    ``temporary`` says a later try may succeed; ``retry_after`` is the server's Retry-After header.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str = "refused",
        status: int | None = None,
        retry_after: str | None = None,
        temporary: bool = False,
    ) -> None:
        super().__init__({"url": message})
        self.detail = message
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        self.temporary = temporary


# Answers that say "not now" rather than "never": worth another try after a pause.
_TEMPORARY_STATUSES = {408, 425, 429, 500, 502, 503, 504}


def _refuse(message: str, **facts) -> UrlRefused:
    return UrlRefused(message, **facts)


@dataclass(frozen=True)
class FetchedContent:
    content: bytes
    # The URL the bytes came from, after redirects.
    url: str
    # Its last path segment, for the stored file's name.
    filename: str


def _shown(url: str) -> str:
    return url if len(url) <= 100 else f"{url[:97]}..."


def url_check(*, url: str) -> str:
    """The URL, trimmed, if it is one Sightline would try to fetch; checks its form only, no lookup."""
    return _target(url.strip()).url


def _target(url: str) -> _Target:
    if len(url) > MAX_URL_LENGTH:
        raise _refuse(f"The URL is {len(url):,} characters long; the limit is {MAX_URL_LENGTH:,}.")
    if any(ord(character) <= 0x20 or ord(character) == 0x7F for character in url):
        raise _refuse("The URL contains spaces or control characters.")
    try:
        parts = urlsplit(url)
    except ValueError as error:
        # An unclosed or misplaced bracket ("http://[::1"): urlsplit cannot find the host.
        raise _refuse(f"The URL is not valid: {error}.") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise _refuse(f"Only http and https URLs can be fetched, not {scheme or 'a URL without a scheme'}.")
    if parts.username is not None or parts.password is not None:
        raise _refuse("URLs with a user name or password are not fetched.")
    if not parts.hostname:
        raise _refuse("The URL names no host.")
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
        # Internationalised names travel in their ASCII (punycode) form, in DNS and in the Host header.
        host = parts.hostname.encode("idna").decode("ascii")
    except ValueError as error:
        # Raised for a port that is not a number in 1-65535 and for a name IDNA cannot encode.
        raise _refuse(f"The URL's host or port is not valid: {error}.") from None
    path = quote(parts.path or "/", safe=_SAFE_URL_CHARACTERS)
    if parts.query:
        path += "?" + quote(parts.query, safe=_SAFE_URL_CHARACTERS)
    target = _Target(url=url, scheme=scheme, host=host.lower(), port=port, path=path)
    ports = settings.SIGHTLINE_URL_FETCH_PORTS
    # Web servers answer on the web ports; any other port is more likely an internal service behind a
    # public name (mail, databases, admin consoles) than an image. Hosts allowed by name may use any.
    if port not in ports and not _is_allowed_host(target):
        listed = ", ".join(str(allowed) for allowed in ports)
        raise _refuse(f"Only ports {listed} are fetched; the URL names port {port}.")
    return target


def _is_allowed_host(target: _Target) -> bool:
    for entry in settings.SIGHTLINE_URL_FETCH_ALLOWED_HOSTS:
        allowed = urlsplit(f"//{entry.strip()}")
        if allowed.hostname == target.host and allowed.port in (None, target.port):
            return True
    return False


def _address_problem(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """What makes an address one we must not contact ("loopback", "private"…), or None if it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        # IPv6 forms that carry an IPv4 address reach that address; judge it as well.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64_PREFIX:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            problem = _address_problem(embedded)
            if problem:
                return problem
    # Most specific first: 127.0.0.1 and 169.254.169.254 also count as private.
    for problem, applies in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("non-public", not address.is_global),
    ):
        if applies:
            return problem
    return None


def _addresses(target: _Target) -> list[tuple[int, tuple]]:
    """``(family, socket address)`` for each address of the host, all of them checked; refuses if any
    is not public, so a name with one public and one private record cannot be used either."""
    seconds = settings.SIGHTLINE_URL_FETCH_DNS_TIMEOUT_SECONDS
    # getaddrinfo takes no timeout and a slow name server can hold it for tens of seconds, so the lookup
    # runs on a small shared pool and is given up on in time. A lookup given up on keeps its pool thread
    # until the resolver returns, so a burst of hanging names can delay lookups behind them (each is still
    # refused within the timeout).
    lookup = _resolver.submit(socket.getaddrinfo, target.host, target.port, type=socket.SOCK_STREAM)
    try:
        infos = lookup.result(timeout=seconds)
    except FutureTimeout:
        lookup.cancel()
        message = f"The name {target.host} could not be looked up within {seconds:g} s."
        raise _refuse(message, reason="timeout", temporary=True) from None
    except (OSError, UnicodeError):
        raise _refuse(f"The host {target.host} could not be found.", reason="unreachable") from None
    addresses: list[tuple[int, tuple]] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if (family, sockaddr) not in addresses:
            addresses.append((family, sockaddr))
    if _is_allowed_host(target):
        return addresses
    for _family, sockaddr in addresses:
        # An IPv6 link-local address comes with its zone ("fe80::1%eth0").
        address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        problem = _address_problem(address)
        if problem:
            article = "an" if problem[0] in "aeiou" else "a"
            raise _refuse(
                f"{target.host} resolves to {address}, {article} {problem} address; "
                "Sightline only fetches images from public internet addresses."
            )
    return addresses


class _PinnedConnection(http.client.HTTPConnection):
    """HTTP or HTTPS to an address already checked, whatever the host name would resolve to now."""

    def __init__(self, target: _Target, address: tuple[int, tuple], timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self.target = target
        self.address = address
        # The Host header leaves out the port when it is the scheme's default.
        self.default_port = _DEFAULT_PORTS[target.scheme]

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


def _get(target: _Target, deadline: float) -> tuple[str | None, bytes]:
    """GET the target: ``(redirect location, b"")`` for a redirect, else ``(None, body)``."""
    timeout = settings.SIGHTLINE_URL_FETCH_TIMEOUT_SECONDS
    limit = settings.SIGHTLINE_MAX_IMAGE_BYTES
    last_error: OSError | None = None
    for address in _addresses(target):
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
                    raise _refuse(f"{_shown(target.url)} redirects without saying where to.")
                return location, b""
            if response.status != 200:
                raise _refuse(
                    f"{_shown(target.url)} answered HTTP {response.status} {response.reason}.",
                    reason="http_error",
                    status=response.status,
                    retry_after=response.getheader("Retry-After"),
                    temporary=response.status in _TEMPORARY_STATUSES,
                )
            declared = response.getheader("Content-Length", "")
            if declared.isdigit() and int(declared) > limit:
                raise _refuse(
                    f"{_shown(target.url)} is {human_bytes(int(declared))}; the limit is {human_bytes(limit)}.",
                    reason="too_large",
                )
            return None, _read_body(target, response, deadline, limit)
        except ssl.SSLError as error:
            raise _refuse(f"A secure connection to {target.host} failed: {error.reason or error}.") from None
        except (TimeoutError, OSError, http.client.HTTPException) as error:
            if time.monotonic() >= deadline or isinstance(error, TimeoutError):
                raise _timed_out(target) from None
            message = f"{_shown(target.url)} could not be read: {error or type(error).__name__}."
            raise _refuse(message, reason="unreachable", temporary=True) from None
        finally:
            if watchdog is not None:
                watchdog.cancel()
            connection.close()
    if last_error is not None:
        message = f"{target.host} could not be reached: {last_error.strerror or last_error}."
        raise _refuse(message, reason="unreachable", temporary=True)
    raise _timed_out(target)


def _read_body(target: _Target, response: http.client.HTTPResponse, deadline: float, limit: int) -> bytes:
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
            raise _refuse(f"{_shown(target.url)} is larger than the limit of {human_bytes(limit)}.", reason="too_large")


def _timed_out(target: _Target) -> UrlRefused:
    seconds = settings.SIGHTLINE_URL_FETCH_DEADLINE_SECONDS
    per_step = settings.SIGHTLINE_URL_FETCH_TIMEOUT_SECONDS
    return _refuse(
        f"{_shown(target.url)} timed out (each step may take {per_step:g} s, the whole fetch {seconds:g} s).",
        reason="timeout",
        temporary=True,
    )


def url_content_fetch(*, url: str) -> FetchedContent:
    """Download the bytes at ``url`` (following up to 3 redirects), not yet checked to be an image.

    Raises ``UrlRefused``. For callers that check and store the bytes themselves (URL-list imports
    store through ``image_add``, which checks them as uploads are checked).
    """
    deadline = time.monotonic() + settings.SIGHTLINE_URL_FETCH_DEADLINE_SECONDS
    target = _target(url.strip())
    for redirects in range(MAX_REDIRECTS + 1):
        location, content = _get(target, deadline)
        if location is None:
            break
        if redirects == MAX_REDIRECTS:
            raise _refuse(f"{_shown(url)} redirected more than {MAX_REDIRECTS} times.")
        target = _target(urljoin(target.url, location))
    filename = unquote(target.path.split("?", 1)[0].rsplit("/", 1)[-1]) or target.host
    return FetchedContent(content=content, url=target.url, filename=filename[-200:])


def url_image_fetch(*, url: str) -> FetchedImage:
    """Download the image at ``url`` (following up to 3 redirects) and check it decodes as an image."""
    fetched = url_content_fetch(url=url)
    try:
        checked = image_check(content=fetched.content, filename=_shown(fetched.url))
    except ImageRejected as rejection:
        raise _refuse(rejection.detail, reason=rejection.reason) from None
    return FetchedImage(image=checked, filename=fetched.filename)


# The quota name of a sync URL prediction refused because this process is fetching all it may at once.
URL_FETCHES_NOW = "url_fetches_now"
_sync_lock = threading.Lock()
_sync_fetching = 0


def url_image_fetch_now(*, url: str) -> FetchedImage:
    """``url_image_fetch`` for a request that waits for its answer (a sync prediction), at most
    ``SIGHTLINE_URL_FETCH_SYNC_CONCURRENCY`` at a time in this process.

    A fetch may hold its web thread for the whole deadline (15 s), so without a bound a few slow URLs
    would occupy every thread and the server would stop answering anything. Beyond it the request is
    refused at once (429); the queued predictions fetch on a worker, with no such bound.
    """
    global _sync_fetching
    allowed = settings.SIGHTLINE_URL_FETCH_SYNC_CONCURRENCY
    with _sync_lock:
        if _sync_fetching >= allowed:
            from classifier.services.quotas import QuotaExceeded

            raise QuotaExceeded(
                quota=URL_FETCHES_NOW,
                used=_sync_fetching,
                allowed=allowed,
                message=f"This server is already fetching {_sync_fetching} image URLs for answers now, its limit; "
                "send the image itself, queue the prediction (async), or try again in a few seconds.",
            )
        _sync_fetching += 1
    try:
        return url_image_fetch(url=url)
    finally:
        with _sync_lock:
            _sync_fetching -= 1
