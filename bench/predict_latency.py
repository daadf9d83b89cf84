"""Sync prediction latency end to end over HTTP, against its two baselines, in one run.

Sets up a throw-away platform (SQLite, the three ready-made ImageNet EfficientNet-Lite models),
starts the production web server (gunicorn, one worker) and times, interleaved request by request:
  http  — POST /api/v1/model-versions/{lite0}/predict/ with one 224×224 JPEG (decode, TFLite, JSON)
  raw   — the TFLite interpreter call alone on already-decoded pixels (the floor)
  keras — the tutorials' way: decode the JPEG and run the Keras model's model.predict per request
Then it asks each of the three models once and reads the web worker's resident memory.
Targets: http p50 ≤ 0.35 × keras p50; http p50 − raw p50 < 10 ms; web RSS with 3 models < 400 MB.

    .venv/bin/python bench/predict_latency.py [--requests 200] [--var-dir DIR]
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


def setup_platform(var_dir: str):
    """Migrate, install the ImageNet models and make a user; returns (token, versions, env)."""
    env = {
        **os.environ,
        "SIGHTLINE_DEV": "1",
        "SIGHTLINE_VAR_DIR": var_dir,
        "DJANGO_SETTINGS_MODULE": "webapp.settings",
    }
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


def start_web(env: dict, port: int) -> subprocess.Popen:
    server = subprocess.Popen(  # noqa: S603 - fixed argv
        [
            sys.executable,
            "-m",
            "gunicorn",
            "webapp.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--threads",
            "1",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--var-dir", help="reuse a platform folder (skips the model install next time)")
    arguments = parser.parse_args()
    var_dir = arguments.var_dir or tempfile.mkdtemp(prefix="sightline-bench-")
    token, versions, env = setup_platform(var_dir)
    lite0 = versions[0]

    import numpy as np
    from django.core.files.storage import default_storage

    from classifier.ml.export import load_keras
    from classifier.ml.images import load_array
    from classifier.ml.predictor import TFLitePredictor

    jpeg = test_jpeg()
    body, content_type = multipart(jpeg)
    with default_storage.open(lite0.tflite_file.name, "rb") as file:
        raw = TFLitePredictor(file.read())
    pixels = load_array(jpeg, lite0.image_size)
    keras_model = load_keras(default_storage.path(lite0.keras_file.name))

    port = free_port()
    server = start_web(env, port)
    try:

        def http(version_id: int) -> dict:
            # A plain http.client request, as a lean API client sends it: the figure is the server's.
            connection = http_client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                connection.request(
                    "POST",
                    f"/api/v1/model-versions/{version_id}/predict/",
                    body=body,
                    headers={"Authorization": f"Token {token}", "Content-Type": content_type},
                )
                response = connection.getresponse()
                payload = response.read()
            finally:
                connection.close()
            if response.status != 200:
                raise SystemExit(f"predict answered {response.status}: {payload[:300]!r}")
            return json.loads(payload)

        def keras_way() -> None:
            batch = load_array(jpeg, lite0.image_size)[np.newaxis].astype("float32")
            keras_model.predict(batch, verbose=0)

        for _ in range(5):  # warm-up: interpreter load, tf.function tracing
            answer = http(lite0.id)
            raw.predict(pixels)
            keras_way()
        print(f"lite0 answers: {[p['label'] for p in answer['predictions'][:3]]}")

        timings: dict[str, list[float]] = {"http": [], "raw": [], "keras": []}
        for _ in range(arguments.requests):
            for name, call in (
                ("http", lambda: http(lite0.id)),
                ("raw", lambda: raw.predict(pixels)),
                ("keras", keras_way),
            ):
                started = time.perf_counter()
                call()
                timings[name].append((time.perf_counter() - started) * 1000)

        print(f"\n{arguments.requests} requests each, EfficientNet-Lite0 at {lite0.image_size}px, interleaved")
        print(f"{'path':<8}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
        for name, samples in timings.items():
            print(
                f"{name:<8}{percentile(samples, 0.5):>10.2f}{percentile(samples, 0.99):>10.2f}"
                f"{statistics.fmean(samples):>10.2f}"
            )
        http_p50, raw_p50, keras_p50 = (percentile(timings[n], 0.5) for n in ("http", "raw", "keras"))
        print(f"\nhttp p50 / keras p50 = {http_p50 / keras_p50:.3f}   (target ≤ 0.35)")
        print(f"http p50 − raw p50   = {http_p50 - raw_p50:.2f} ms (target < 10 ms)")

        for version in versions[1:]:
            http(version.id)
        pid = worker_pid(server.pid)
        maps = Path(f"/proc/{pid}/maps").read_text()
        print(f"\nweb worker RSS with {len(versions)} ImageNet models loaded: {rss_mb(pid):.0f} MB (target < 400 MB)")
        print(f"TensorFlow loaded in the web worker: {'tensorflow' in maps}")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
