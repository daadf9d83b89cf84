"""Which URLs Sightline fetches and where they lead: the URL's form, its port, and every address its host
resolves to, checked to be public before anything connects (SSRF).

``services.url_fetch`` connects only to the addresses checked here, never through a second lookup (DNS
rebinding). Every refusal is a ``UrlRefused``, a ``ValidationError({"url": ...})`` saying what was wrong.
"""

import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

MAX_URL_LENGTH = 2000
DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters a request line may carry as they are; anything else is percent-encoded (as browsers do).
_SAFE_URL_CHARACTERS = "!#$%&'()*+,/:;=?@[]~"
# NAT64 (RFC 6052) maps every IPv4 address into this prefix; a gateway would forward to the IPv4 one.
_NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")
# Name lookups of this process (see ``target_addresses``).
_resolver = ThreadPoolExecutor(max_workers=8, thread_name_prefix="sightline-dns")
# A resolved address: ``(family, socket address)``.
Address = tuple[int, tuple[str, int] | tuple[str, int, int, int]]


@dataclass(frozen=True)
class Target:
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


def shown_url(url: str) -> str:
    """The URL as messages quote it: cut to 100 characters."""
    return url if len(url) <= 100 else f"{url[:97]}..."


def url_check(*, url: str) -> str:
    """The URL, trimmed, if it is one Sightline would try to fetch; checks its form only, no lookup."""
    return url_target(url.strip()).url


def url_target(url: str) -> Target:
    """What to connect to for ``url``, once its form and port are checked (no lookup yet)."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"The URL is {len(url):,} characters long; the limit is {MAX_URL_LENGTH:,}.")
    if any(ord(character) <= 0x20 or ord(character) == 0x7F for character in url):
        raise UrlRefused("The URL contains spaces or control characters.")
    try:
        parts = urlsplit(url)
    except ValueError as error:
        # An unclosed or misplaced bracket ("http://[::1"): urlsplit cannot find the host.
        raise UrlRefused(f"The URL is not valid: {error}.") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise UrlRefused(f"Only http and https URLs can be fetched, not {scheme or 'a URL without a scheme'}.")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("URLs with a user name or password are not fetched.")
    if not parts.hostname:
        raise UrlRefused("The URL names no host.")
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
        # Internationalised names travel in their ASCII (punycode) form, in DNS and in the Host header.
        host = parts.hostname.encode("idna").decode("ascii")
    except ValueError as error:
        # Raised for a port that is not a number in 1-65535 and for a name IDNA cannot encode.
        raise UrlRefused(f"The URL's host or port is not valid: {error}.") from None
    path = quote(parts.path or "/", safe=_SAFE_URL_CHARACTERS)
    if parts.query:
        path += "?" + quote(parts.query, safe=_SAFE_URL_CHARACTERS)
    target = Target(url=url, scheme=scheme, host=host.lower(), port=port, path=path)
    ports = settings.SIGHTLINE_URL_FETCH_PORTS
    # Web servers answer on the web ports; any other port is more likely an internal service behind a
    # public name (mail, databases, admin consoles) than an image. Hosts allowed by name may use any.
    if port not in ports and not _is_allowed_host(target):
        listed = ", ".join(str(allowed) for allowed in ports)
        raise UrlRefused(f"Only ports {listed} are fetched; the URL names port {port}.")
    return target


def _is_allowed_host(target: Target) -> bool:
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


def target_addresses(target: Target) -> list[Address]:
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
        raise UrlRefused(message, reason="timeout", temporary=True) from None
    except (OSError, UnicodeError):
        raise UrlRefused(f"The host {target.host} could not be found.", reason="unreachable") from None
    addresses: list[Address] = []
    for family, _type, _proto, _name, sockaddr in infos:
        # (int, bytes) comes only from a Python built without IPv6, which could not connect to it anyway.
        if isinstance(sockaddr[0], str) and (family, sockaddr) not in addresses:
            addresses.append((family, sockaddr))
    if _is_allowed_host(target):
        return addresses
    for _family, sockaddr in addresses:
        # An IPv6 link-local address comes with its zone ("fe80::1%eth0").
        address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        problem = _address_problem(address)
        if problem:
            article = "an" if problem[0] in "aeiou" else "a"
            raise UrlRefused(
                f"{target.host} resolves to {address}, {article} {problem} address; "
                "Sightline only fetches images from public internet addresses."
            )
    return addresses
