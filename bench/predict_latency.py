"""Sync prediction latency end to end over HTTP, against Keras and the interpreter, in one run.

Sets up a throw-away platform (SQLite, or PostgreSQL with --database-url; the three ready-made ImageNet
EfficientNet-Lite models), starts the production web server (gunicorn with webapp/gunicorn.conf.py, one
worker process) and times, interleaved request by request, on one 224x224 JPEG:
  keras-predict   the seed's baseline: decode, then the Keras model's model.predict() per request, which
                  Keras documents as meant for large batches (it builds a data pipeline on every call)
  keras-batch     decode, then model.predict_on_batch(): the competent way to call Keras per request
  keras-function  decode, then the model in a tf.function traced once for one image
  floor           the LiteRT interpreter call alone on already-decoded pixels, with the thread count the
                  web workers use (SIGHTLINE_INTERPRETER_THREADS, 1 by default there)
  floor-Nt        the same with the interpreter's default thread count outside the web tier, for reference
  http            POST /api/v1/model-versions/{lite0}/predict/ with token auth over a keep-alive
                  connection: upload parsing, the checks, decode, the interpreter, the stored image and
                  history row, JSON; every answer's prediction_id is checked against the database after
                  the run
"Competent" is the faster of keras-batch and keras-function. Then it asks each of the three models once
and reads the web worker's resident memory.
Targets: http p50 <= floor p50 + 3 ms; http p50 <= 0.5 x competent Keras p50; web RSS with 3 models <= 300 MB.

    .venv/bin/python bench/predict_latency.py [--requests 200] [--var-dir DIR]
        [--database-url postgres://postgres@127.0.0.1:5432/sightline_bench]
"""

import argparse
import http.client as http_client
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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


def setup_platform(var_dir: str, database_url: str = ""):
    """Migrate, install the ImageNet models and make a user; returns (token, versions, env).

    SQLite in ``var_dir`` by default; ``database_url`` (e.g. postgres://postgres@127.0.0.1:5432/sightline_bench,
    created when missing) runs on PostgreSQL as production does, whose row locks let concurrent requests
    write their history rows at once where SQLite takes one writer at a time.
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
    Image.fromarray(data.chelsea()).resize((224, 224)).save(buffer, format="JPEG", quality=90)
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


def start_web(env: dict, port: int, *, workers: int = 1) -> subprocess.Popen:
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
    namespace: dict = {}
    exec(GUNICORN_CONFIG.read_text(), namespace)  # noqa: S102 - the project's own config file
    os.environ.clear()
    os.environ.update(saved)
    return namespace["INTERPRETER_THREADS"]


class ApiClient:
    """A lean API client: one keep-alive connection, opened again when the server closes it."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.connection = http_client.HTTPConnection("127.0.0.1", port, timeout=60)

    def predict(self, version_id: int, body: bytes, content_type: str) -> dict:
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
        return json.loads(payload)


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


def keras_calls(keras_model, jpeg: bytes, size: int) -> dict:
    """The three ways to ask the Keras model about one JPEG, each decoding it as a request would."""
    import numpy as np
    import tensorflow as tf

    from classifier.ml.images import load_array

    def batch() -> np.ndarray:
        return load_array(jpeg, size)[np.newaxis].astype("float32")

    function = tf.function(
        lambda pixels: keras_model(pixels, training=False),
        input_signature=[tf.TensorSpec((1, size, size, 3), tf.float32)],
    )
    return {
        "keras-predict": lambda: keras_model.predict(batch(), verbose=0),
        "keras-batch": lambda: keras_model.predict_on_batch(batch()),
        "keras-function": lambda: function(batch()).numpy(),
    }


def print_rows(timings: dict[str, list[float]]) -> None:
    print(f"{'path':<16}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
    for name, samples in timings.items():
        print(
            f"{name:<16}{percentile(samples, 0.5):>10.2f}{percentile(samples, 0.99):>10.2f}"
            f"{statistics.fmean(samples):>10.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--var-dir", help="reuse a platform folder (skips the model install next time)")
    parser.add_argument("--database-url", default="", help="PostgreSQL instead of SQLite (created when missing)")
    arguments = parser.parse_args()
    var_dir = arguments.var_dir or tempfile.mkdtemp(prefix="sightline-bench-")
    token, versions, env = setup_platform(var_dir, arguments.database_url)
    lite0 = versions[0]

    from django.core.files.storage import default_storage

    from classifier.ml.export import load_keras
    from classifier.ml.images import load_array
    from classifier.ml.predictor import TFLitePredictor, default_num_threads
    from classifier.models import Prediction

    jpeg = test_jpeg()
    body, content_type = multipart(jpeg)
    web_threads = web_interpreter_threads()
    with default_storage.open(lite0.tflite_file.name, "rb") as file:
        model_bytes = file.read()
    floors = {"floor": TFLitePredictor(model_bytes, num_threads=web_threads)}
    if default_num_threads() != web_threads:
        floors[f"floor-{default_num_threads()}t"] = TFLitePredictor(model_bytes)
    pixels = load_array(jpeg, lite0.image_size)
    keras_model = load_keras(default_storage.path(lite0.keras_file.name))

    port = free_port()
    server = start_web(env, port)
    try:
        client = ApiClient(port, token)
        calls = {
            **keras_calls(keras_model, jpeg, lite0.image_size),
            **{name: (lambda predictor=predictor: predictor.predict(pixels)) for name, predictor in floors.items()},
            "http": lambda: answers.append(client.predict(lite0.id, body, content_type)),
        }
        answers: list[dict] = []
        for _ in range(5):  # warm-up: interpreter load, tracing, connections
            for call in calls.values():
                call()
        print(f"lite0 answers: {[p['label'] for p in answers[-1]['predictions'][:3]]}")
        print(f"database: {env.get('DATABASE_URL', 'SQLite')}; web interpreter threads: {web_threads}")
        answers.clear()

        timings: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(arguments.requests):
            for name, call in calls.items():
                started = time.perf_counter()
                call()
                timings[name].append((time.perf_counter() - started) * 1000)

        print(f"\n{arguments.requests} requests each, EfficientNet-Lite0 at {lite0.image_size}px (float), interleaved")
        print_rows(timings)
        p50 = {name: percentile(samples, 0.5) for name, samples in timings.items()}
        competent_name = min(("keras-batch", "keras-function"), key=p50.__getitem__)
        competent, floor, http = p50[competent_name], p50["floor"], p50["http"]
        print(
            f"\ncompetent Keras = {competent_name}; keras-predict / competent = {p50['keras-predict'] / competent:.2f}"
        )
        print(f"http p50 / competent p50 = {http / competent:.3f}   (target <= 0.5)")
        print(f"http p50 / floor p50     = {http / floor:.2f}")
        print(f"http p50 - floor p50     = {http - floor:.2f} ms (target <= 3 ms)")
        for name in floors.keys() - {"floor"}:
            print(f"http p50 - {name} p50 = {http - p50[name]:.2f} ms")
        stored = Prediction.objects.filter(id__in=[answer["prediction_id"] for answer in answers]).exclude(image="")
        print(f"history rows stored with their image: {stored.count()} of {len(answers)} answers")

        for version in versions[1:]:
            client.predict(version.id, body, content_type)
        pid = worker_pid(server.pid)
        maps = Path(f"/proc/{pid}/maps").read_text()
        print(f"\nweb worker RSS with {len(versions)} ImageNet models loaded: {rss_mb(pid):.0f} MB (target <= 300 MB)")
        print(f"TensorFlow loaded in the web worker: {'tensorflow' in maps}")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
