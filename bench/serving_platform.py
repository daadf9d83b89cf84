"""A throw-away Sightline platform for the serving benches (predict_latency, load, batch_throughput,
hostile): the database and the ready ImageNet models set up, the production web server started, a lean
keep-alive API client, and the web worker's pid and memory."""

import http.client as http_client
import io
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from classifier.models import ModelVersion

ROOT = Path(__file__).resolve().parents[1]



def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def database_create(database_url: str) -> None:
    """Create the PostgreSQL database ``database_url`` names, when it does not exist yet."""
    import dj_database_url
    import psycopg2

    config = dj_database_url.parse(database_url)
    server = psycopg2.connect(
        dbname="postgres",
        user=config["USER"],
        password=config["PASSWORD"],
        host=config["HOST"],
        port=config["PORT"] or 5432,
    )
    server.autocommit = True
    with server.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{config["NAME"]}"')
    server.close()


def setup_platform(
    var_dir: str, database_url: str = "", cache_url: str = ""
) -> tuple[str, list["ModelVersion"], dict[str, str]]:
    """Migrate, install the ImageNet models and make a user; returns (token, versions, env).

    SQLite in ``var_dir`` by default; ``database_url`` (e.g. postgres://postgres@127.0.0.1:5432/sightline_bench,
    created when missing) runs on PostgreSQL as production does, whose row locks let concurrent requests
    write their history rows at once where SQLite takes one writer at a time. ``cache_url`` (e.g.
    redis://127.0.0.1:6379/13) keeps the rate limits' counts in Redis, as production does (one round trip a
    prediction); without it each web process counts in its own memory.
    """
    env = {
        # A rate limit above what a bench sends: the throttle still runs on every request, refusing none.
        "SIGHTLINE_THROTTLE_PREDICTIONS": "1000000/min",
        **os.environ,
        "SIGHTLINE_DEV": "1",
        "SIGHTLINE_VAR_DIR": var_dir,
        "DJANGO_SETTINGS_MODULE": "webapp.settings",
    }
    if database_url:
        database_create(database_url)
        env["DATABASE_URL"] = database_url
    if cache_url:
        env["SIGHTLINE_CACHE_URL"] = cache_url
    os.environ.update(env)
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from classifier.models import ModelVersion

    call_command("migrate", verbosity=0)
    call_command("install_imagenet_models")
    user, _ = User.objects.get_or_create(username="bench")
    token, _ = Token.objects.get_or_create(user=user)
    versions = list(ModelVersion.objects.filter(dataset__name="ImageNet-1k").order_by("number"))
    return token.key, versions, env


def test_jpeg() -> bytes:
    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    photo = data.chelsea()  # type: ignore[no-untyped-call]  # scikit-image leaves it unannotated
    Image.fromarray(photo).resize((224, 224)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def multipart(content: bytes) -> tuple[bytes, str]:
    boundary = "sightline-bench-boundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="cat.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n".encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


GUNICORN_CONFIG = ROOT / "webapp" / "gunicorn.conf.py"


def start_web(env: dict[str, str], port: int, *, workers: int = 1) -> subprocess.Popen[bytes]:
    """gunicorn as production runs it (webapp/gunicorn.conf.py), on 127.0.0.1:port with ``workers``
    processes (the config's own default when 0), once it accepts connections."""
    server_env = {**env, "SIGHTLINE_WEB_BIND": f"127.0.0.1:{port}", "SIGHTLINE_WEB_LOG_LEVEL": "warning"}
    if workers:
        server_env["SIGHTLINE_WEB_WORKERS"] = str(workers)
    server = subprocess.Popen(  # noqa: S603 - fixed argv
        [sys.executable, "-m", "gunicorn", "webapp.wsgi:application", "-c", str(GUNICORN_CONFIG)],
        cwd=ROOT,
        env=server_env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("gunicorn did not start")


def web_interpreter_threads() -> int:
    """The interpreter thread count the web workers get from webapp/gunicorn.conf.py."""
    saved = dict(os.environ)
    namespace: dict[str, Any] = {}
    exec(GUNICORN_CONFIG.read_text(), namespace)  # noqa: S102 - the project's own config file
    os.environ.clear()
    os.environ.update(saved)
    threads: int = namespace["INTERPRETER_THREADS"]
    return threads


class ApiClient:
    """A lean API client: one keep-alive connection, opened again when the server closes it."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.connection = http_client.HTTPConnection("127.0.0.1", port, timeout=60)

    def predict(self, version_id: int, body: bytes, content_type: str) -> dict[str, Any]:
        headers = {"Authorization": f"Token {self.token}", "Content-Type": content_type}
        for attempt in range(2):
            try:
                self.connection.request("POST", f"/api/v1/model-versions/{version_id}/predict/", body, headers)
                response = self.connection.getresponse()
                payload = response.read()
                break
            except (ConnectionError, http_client.HTTPException):
                self.connection.close()
                if attempt:
                    raise
        if response.status != 200:
            raise SystemExit(f"predict answered {response.status}: {payload[:300]!r}")
        answer: dict[str, Any] = json.loads(payload)
        return answer


def worker_pid(master: int) -> int:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                return int(entry.name)
    raise SystemExit("no gunicorn worker found")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")
