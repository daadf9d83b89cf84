"""The public edge, run for real: nginx with deploy/nginx/'s files (rendered as the nginx image renders
them, only the addresses differ) in front of gunicorn serving the app and Flower serving under /flower/,
all on 127.0.0.1. What a client can and cannot make Django believe, and what nginx stops itself."""

import base64
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.serving_platform import start_web
from tests.webapp.proxy_support import COMPOSE_TLS, FLOWER_CREDENTIALS, NGINX_DIR, ROOT, SERVICES, TEMPLATE_VARIABLE
from webapp.request_limits import request_body_limit

TOKEN_RATE = 3


def _render(template: Path, values: dict[str, str]) -> str:
    text = template.read_text()
    missing = set(TEMPLATE_VARIABLE.findall(text)) - set(values)
    assert not missing, f"{template.name} needs {sorted(missing)}"
    return TEMPLATE_VARIABLE.sub(lambda match: values[match[1]], text)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text() if log.exists() else "exited"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"nothing listens on {port}: {log.read_text() if log.exists() else ''}")


def _nginx() -> str | None:
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(path, os.X_OK)), None
    )


class Edge:
    """The ports: gunicorn's own (the one compose never publishes), nginx's plain and TLS ones."""

    def __init__(self, *, web: int, http: int, https: int, certificate: Path, token: str):
        self.web, self.http, self.https, self.certificate, self.token = web, http, https, certificate, token

    def request(self, port: int, method: str, path: str, body: bytes | None = None, headers=None, tls=False):
        if tls:
            context = ssl.create_default_context(cafile=str(self.certificate))
            connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=context)
        else:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request(method, path, body, headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    nginx, openssl = _nginx(), shutil.which("openssl")
    if nginx is None:
        pytest.skip("nginx is not installed (.ci/run installs Debian's nginx)")
    if openssl is None:
        pytest.skip("openssl is not installed: the TLS server needs a certificate")
    tmp = tmp_path_factory.mktemp("edge")
    processes: list[subprocess.Popen] = []

    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {"DATABASE_URL", "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER", "SIGHTLINE_CACHE_URL"}
    }
    environment.update(
        SIGHTLINE_DEV="1",
        SIGHTLINE_VAR_DIR=str(tmp / "var"),
        # As compose runs web: one proxy in front, and the production redirect to https://.
        SIGHTLINE_TRUSTED_PROXIES=SERVICES["web"]["environment"]["SIGHTLINE_TRUSTED_PROXIES"],
        SECURE_SSL_REDIRECT="1",
        SIGHTLINE_THROTTLE_TOKEN=f"{TOKEN_RATE}/min",
        CELERY_BROKER_URL="memory://",
        FLOWER_BASIC_AUTH=":".join(FLOWER_CREDENTIALS),
        PYTHONUNBUFFERED="1",
    )
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput"], cwd=ROOT, env=environment, check=True, capture_output=True)
    create_token = (
        "from django.contrib.auth.models import User; from rest_framework.authtoken.models import Token; "
        "print(Token.objects.create(user=User.objects.create_user('edge', password='edge-password')).key)"
    )
    token = subprocess.run(
        [*manage, "shell", "-c", create_token], cwd=ROOT, env=environment, check=True, capture_output=True, text=True
    ).stdout.split()[-1]

    ports = {"web": _free_port(), "flower": _free_port(), "http": _free_port(), "https": _free_port()}
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(tmp / "privkey.pem")]
        + ["-out", str(tmp / "fullchain.pem")],
        check=True,
        capture_output=True,
    )
    try:
        processes.append(start_web(environment, ports["web"]))
        flower_log = tmp / "flower.log"
        with flower_log.open("w") as log:
            processes.append(
                subprocess.Popen(  # noqa: S603 - the compose command, on a test port
                    [sys.executable, "-m", "celery", *SERVICES["flower"]["command"][1:]]
                    + [f"--port={ports['flower']}", "--address=127.0.0.1"],
                    cwd=ROOT,
                    env=environment,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        _wait_for_port(ports["flower"], processes[-1], flower_log)

        # The same values compose gives the image, with test addresses.
        values = {
            **SERVICES["proxy"]["environment"],
            **COMPOSE_TLS["services"]["proxy"]["environment"],
            "SIGHTLINE_PROXY_PORT": str(ports["http"]),
            "SIGHTLINE_PROXY_HTTPS_PORT": str(ports["https"]),
            "SIGHTLINE_WEB_ADDRESS": f"127.0.0.1:{ports['web']}",
            "SIGHTLINE_FLOWER_ADDRESS": f"127.0.0.1:{ports['flower']}",
            "SIGHTLINE_TLS_DIR": str(tmp),
        }
        (tmp / "conf.d").mkdir()
        for template in ("sightline.conf.template", "sightline-https.conf.template"):
            rendered = tmp / "conf.d" / template.replace(".template", "")
            rendered.write_text(_render(NGINX_DIR / template, values))
        # Included by a path relative to the main file's folder, as /etc/nginx/ in the image.
        (tmp / "sightline-locations.conf").symlink_to(NGINX_DIR / "sightline-locations.conf")
        temporary = "\n".join(
            f"    {kind}_temp_path {tmp / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (tmp / "nginx.conf").write_text(
            ("user root;\n" if os.geteuid() == 0 else "")
            + f"daemon off;\nworker_processes 1;\npid {tmp / 'nginx.pid'};\nerror_log {tmp / 'error.log'} warn;\n"
            + "events { worker_connections 64; }\n"
            + f"http {{\n    access_log off;\n{temporary}\n    include {tmp / 'conf.d'}/*.conf;\n}}\n"
        )
        processes.append(
            subprocess.Popen(  # noqa: S603 - nginx with the test's files
                [nginx, "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-e", str(tmp / "error.log")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
            )
        )
        for port in (ports["http"], ports["https"]):
            _wait_for_port(port, processes[-1], tmp / "error.log")
        yield Edge(
            web=ports["web"], http=ports["http"], https=ports["https"], certificate=tmp / "fullchain.pem", token=token
        )
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _api(edge: Edge) -> dict[str, str]:
    return {"Authorization": f"Token {edge.token}", "Host": "127.0.0.1", "Accept-Encoding": "gzip"}


def test_an_api_call_through_the_tls_proxy_works_and_is_compressed(edge):
    status, _, body = edge.request(edge.https, "GET", "/api/v1/datasets/", headers=_api(edge), tls=True)
    assert status == 200, body
    status, headers, body = edge.request(edge.https, "GET", "/api/v1/schema/?format=json", headers=_api(edge), tls=True)
    assert status == 200
    assert headers.get("Content-Encoding") == "gzip"
    assert headers.get("Server") == "nginx", "server_tokens off: no version"


def test_plain_http_through_the_proxy_is_redirected_whatever_the_client_claims(edge):
    # nginx writes X-Forwarded-Proto from its own scheme: the client's "https" never reaches Django.
    forged = {**_api(edge), "X-Forwarded-Proto": "https"}
    status, headers, _ = edge.request(edge.http, "GET", "/api/v1/datasets/", headers=forged)
    assert status == 301
    assert headers["Location"] == "https://127.0.0.1/api/v1/datasets/"
    # The reason compose never publishes gunicorn: reached directly, the same claim is believed.
    status, _, _ = edge.request(edge.web, "GET", "/api/v1/datasets/", headers=forged)
    assert status == 200


def test_a_forged_forwarded_for_does_not_escape_the_token_rate_limit(edge):
    def attempt(port: int, number: int, tls: bool) -> int:
        headers = {
            "Host": "127.0.0.1",
            "Content-Type": "application/json",
            # Each try claims another address, and a proxy chain that ends in yet another one.
            "X-Forwarded-For": f"203.0.113.{number}, 198.51.100.{number}",
            "X-Forwarded-Proto": "https",
        }
        body = json.dumps({"username": f"nobody-{number}", "password": "wrong"}).encode()
        return edge.request(port, "POST", "/api/v1/auth/token/", body, headers, tls=tls)[0]

    # Straight to gunicorn, the rotating header is a new client each time: never limited.
    assert {attempt(edge.web, number, tls=False) for number in range(TOKEN_RATE + 2)} == {400}
    # Through nginx it is replaced by the connection's address: the limit holds.
    statuses = [attempt(edge.https, 100 + number, tls=True) for number in range(TOKEN_RATE + 2)]
    assert statuses == [400] * TOKEN_RATE + [429, 429]


def test_a_body_over_the_archive_limit_is_refused_by_nginx(edge):
    limit = request_body_limit("classifier_api:dataset-imports")[0]
    config = (NGINX_DIR / "sightline-locations.conf").read_text()
    assert re.search(r"^client_max_body_size (\d+)m;", config, re.MULTILINE)[1] == str(limit // 2**20)

    connection = http.client.HTTPConnection("127.0.0.1", edge.http, timeout=30)
    try:
        connection.putrequest("POST", "/api/v1/datasets/1/imports/", skip_host=True)
        for name, value in {**_api(edge), "Content-Length": str(limit + 1), "Content-Type": "application/zip"}.items():
            connection.putheader(name, value)
        connection.endheaders(b"PK\x03\x04")
        response = connection.getresponse()
        # nginx's own page: refused on the declared length, nothing forwarded to gunicorn.
        assert response.status == 413
        assert b"<center>nginx</center>" in response.read()
    finally:
        connection.close()


def test_flower_through_the_proxy_asks_for_its_password(edge):
    # The pages, the API, and a worker's shutdown: nothing without the password.
    for method, path in (
        ("GET", "/flower/"),
        ("GET", "/flower/api/workers"),
        ("POST", "/flower/api/worker/shutdown/x"),
    ):
        status, _, _ = edge.request(edge.https, method, path, headers={"Host": "127.0.0.1"}, tls=True)
        assert status == 401, path
    credentials = {"Authorization": _basic_auth(*FLOWER_CREDENTIALS), "Host": "127.0.0.1"}
    status, _, body = edge.request(edge.https, "GET", "/flower/", headers=credentials, tls=True)
    assert status == 200
    assert b"/flower/static/" in body
    wrong = {**credentials, "Authorization": _basic_auth(FLOWER_CREDENTIALS[0], "not-the-password")}
    assert edge.request(edge.https, "GET", "/flower/", headers=wrong, tls=True)[0] == 401
