"""Fetching an image by URL: only public addresses (SSRF), checked again on every redirect and pinned
against DNS rebinding, with byte and time limits, and only images kept.

Every HTTP exchange goes to a local server on 127.0.0.1 whose host:port is the only entry of the
allow-list; everything else is refused before a connection is made.
"""

import socket
import threading
import time

import pytest
from django.core.exceptions import ValidationError

from classifier.services import url_fetch
from classifier.services.url_fetch import url_image_fetch
from classifier.services.url_targets import url_check
from tests.classifier.conftest import Route
from tests.factories import image_bytes

PNG = image_bytes(color=(0, 0, 255), fmt="PNG")


def _refusal(url: str) -> str:
    with pytest.raises(ValidationError) as caught:
        url_image_fetch(url=url)
    assert set(caught.value.message_dict) == {"url"}
    return " ".join(caught.value.message_dict["url"])


def test_an_image_is_fetched_from_an_allowed_host(image_server):
    image_server.routes["/photos/cat.png?size=large"] = Route(body=PNG, headers={"Content-Type": "image/png"})

    fetched = url_image_fetch(url=image_server.url("/photos/cat.png?size=large"))

    assert fetched.image.content == PNG
    assert fetched.image.format == "PNG"
    assert fetched.filename == "cat.png"
    assert image_server.requests[-1]["host"] == image_server.host


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1/", "127.0.0.1, a loopback address"),
        ("http://localhost/admin/", "a loopback address"),
        ("http://10.1.2.3/image.jpg", "10.1.2.3, a private address"),
        ("http://192.168.0.10/", "a private address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254, a link-local address"),
        ("https://[::1]/", "::1, a loopback address"),
        ("http://[::ffff:127.0.0.1]/", "a loopback address"),
        ("http://[::ffff:a9fe:a9fe]/", "a link-local address"),
        ("http://[fe80::1]/", "a link-local address"),
        ("http://[fd00::1]/", "a private address"),
        ("http://[64:ff9b::a00:1]/", "a private address"),
        ("http://0.0.0.0/", "0.0.0.0, an unspecified address"),
        ("http://224.0.0.1/", "a multicast address"),
        ("http://240.0.0.1/", "a reserved address"),
        ("http://100.64.0.1/", "a non-public address"),
    ],
)
def test_internal_addresses_are_refused_before_connecting(url, problem, monkeypatch):
    def no_connections(*args, **kwargs):
        raise AssertionError("a refused URL must not be connected to")

    monkeypatch.setattr(url_fetch._PinnedConnection, "connect", no_connections)

    message = _refusal(url)

    assert problem in message
    assert "only fetches images from public internet addresses" in message


def test_a_name_resolving_to_a_private_address_is_refused(monkeypatch):
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *args, **kwargs: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", 80))]
    )

    assert "images.example.com resolves to 10.0.0.7, a private address" in _refusal("http://images.example.com/a.jpg")


def test_one_private_record_among_public_ones_is_enough_to_refuse(monkeypatch):
    records = [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 80)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 80)),
    ]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: records)

    assert "a loopback address" in _refusal("http://mixed.example.com/")


def test_the_checked_address_is_the_one_connected_to(image_server, settings, monkeypatch):
    """DNS rebinding: the name is looked up once; a second lookup answering 127.0.0.1 would be obeyed
    by a naive client after the check, so there must be none."""
    image_server.routes["/a.png"] = Route(body=PNG)
    settings.SIGHTLINE_URL_FETCH_ALLOWED_HOSTS = [f"pictures.test:{image_server.port}"]
    lookups = []

    def resolve(host, port, *args, **kwargs):
        lookups.append(host)
        if len(lookups) > 1:
            raise AssertionError("the host name was looked up a second time")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)

    fetched = url_image_fetch(url=f"http://pictures.test:{image_server.port}/a.png")

    assert fetched.image.content == PNG
    assert lookups == ["pictures.test"]
    # The server was asked for the name, not the address it was reached at.
    assert image_server.requests[-1]["host"] == f"pictures.test:{image_server.port}"


def test_the_allow_list_names_a_port_too(image_server, settings):
    settings.SIGHTLINE_URL_FETCH_ALLOWED_HOSTS = [f"127.0.0.1:{image_server.port + 1}"]
    # Its port is a web port, so it is the address that is refused.
    settings.SIGHTLINE_URL_FETCH_PORTS = [80, 443, image_server.port]

    assert "a loopback address" in _refusal(image_server.url("/a.png"))


@pytest.mark.parametrize(
    "url", ["http://example.com:25/a.png", "https://example.com:6379/", "http://203.0.113.7:8080/cat.jpg"]
)
def test_only_web_ports_are_fetched(url):
    # Refused from its form alone: no name lookup, no connection.
    assert _refusal(url) == f"Only ports 80, 443 are fetched; the URL names port {url.split(':')[2].split('/')[0]}."


def test_a_redirect_to_another_port_is_refused(image_server):
    image_server.routes["/go"] = Route(status=302, headers={"Location": "http://example.com:22/"})

    assert "the URL names port 22" in _refusal(image_server.url("/go"))


def test_a_name_lookup_that_hangs_is_given_up_on_in_time(settings, monkeypatch):
    settings.SIGHTLINE_URL_FETCH_DNS_TIMEOUT_SECONDS = 0.2
    released = threading.Event()

    def slow_lookup(*args, **kwargs):
        released.wait(5)
        raise OSError("gave up")

    monkeypatch.setattr(socket, "getaddrinfo", slow_lookup)
    started = time.monotonic()
    try:
        message = _refusal("http://slow.example/cat.jpg")
    finally:
        released.set()

    assert message == "The name slow.example could not be looked up within 0.2 s."
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    "target",
    ["http://127.0.0.1/secret", "http://10.0.0.1/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/"],
)
def test_a_redirect_to_an_internal_address_is_refused(image_server, target):
    image_server.routes["/go"] = Route(status=302, headers={"Location": target})

    message = _refusal(image_server.url("/go"))

    assert "only fetches images from public internet addresses" in message
    assert [request["path"] for request in image_server.requests] == ["/go"]


def test_redirects_are_followed_up_to_three_times(image_server):
    image_server.routes["/1"] = Route(status=301, headers={"Location": "/2"})
    image_server.routes["/2"] = Route(status=302, headers={"Location": image_server.url("/3")})
    image_server.routes["/3"] = Route(status=307, headers={"Location": "4"})
    image_server.routes["/4"] = Route(body=PNG)

    assert url_image_fetch(url=image_server.url("/1")).image.content == PNG


def test_a_fourth_redirect_is_refused(image_server):
    for hop in range(1, 5):
        image_server.routes[f"/{hop}"] = Route(status=302, headers={"Location": f"/{hop + 1}"})
    image_server.routes["/5"] = Route(body=PNG)

    assert "redirected more than 3 times" in _refusal(image_server.url("/1"))
    assert len(image_server.requests) == 4


@pytest.mark.parametrize("send_length", [True, False])
def test_a_body_over_the_image_limit_is_refused(image_server, settings, send_length):
    settings.SIGHTLINE_MAX_IMAGE_BYTES = 1000
    image_server.routes["/big.png"] = Route(body=b"\x89PNG" + b"0" * 5000, send_length=send_length)

    message = _refusal(image_server.url("/big.png"))

    assert "limit" in message
    assert "1000 bytes" in message


def test_a_slow_server_times_out(image_server, settings):
    settings.SIGHTLINE_URL_FETCH_TIMEOUT_SECONDS = 0.2
    image_server.routes["/slow.png"] = Route(body=PNG, delay=1.0)

    assert "timed out" in _refusal(image_server.url("/slow.png"))


def test_a_trickling_server_hits_the_total_deadline(image_server, settings):
    # Each byte arrives well within the read timeout; only the whole-fetch deadline stops it.
    settings.SIGHTLINE_URL_FETCH_TIMEOUT_SECONDS = 2.0
    settings.SIGHTLINE_URL_FETCH_DEADLINE_SECONDS = 0.5
    image_server.routes["/drip.png"] = Route(body=PNG, trickle=0.05)
    started = time.monotonic()

    assert "timed out" in _refusal(image_server.url("/drip.png"))
    # Stopped at the deadline, not after the whole body (several seconds) had trickled in.
    assert time.monotonic() - started < 1.5


def test_content_that_is_not_an_image_is_refused(image_server):
    image_server.routes["/page.png"] = Route(body=b"<html>hello</html>", headers={"Content-Type": "image/png"})

    assert "is not an image Sightline can read" in _refusal(image_server.url("/page.png"))


def test_an_error_status_is_reported(image_server):
    assert "answered HTTP 404" in _refusal(image_server.url("/missing.png"))


def test_an_unreachable_port_is_reported(image_server, settings):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    settings.SIGHTLINE_URL_FETCH_ALLOWED_HOSTS = [f"127.0.0.1:{port}"]

    assert "could not be reached" in _refusal(f"http://127.0.0.1:{port}/a.png")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("file:///etc/passwd", "Only http and https URLs"),
        ("ftp://example.com/a.jpg", "Only http and https URLs"),
        ("example.com/a.jpg", "a URL without a scheme"),
        ("http://user:secret@example.com/a.jpg", "user name or password"),
        ("http:///a.jpg", "names no host"),
        ("http://example.com:99999/", "port is not valid"),
        ("http://example.com/a b.jpg", "spaces or control characters"),
        ("http://example.com/" + "a" * 2000, "the limit is 2,000"),
        ("http://[::1/a.jpg", "Invalid IPv6 URL"),
        ("http://example.com]/a.jpg", "Invalid IPv6 URL"),
    ],
)
def test_malformed_urls_are_refused_without_a_lookup(url, problem, monkeypatch):
    def no_lookups(*args, **kwargs):
        raise AssertionError("a malformed URL must not be looked up")

    monkeypatch.setattr(socket, "getaddrinfo", no_lookups)

    with pytest.raises(ValidationError) as caught:
        url_check(url=url)
    assert problem in " ".join(caught.value.message_dict["url"])
    assert problem in _refusal(url)
