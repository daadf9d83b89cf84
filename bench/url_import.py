"""URL-list import throughput, and the report's counts against planted failures, in one run.

Serves 1,000 URLs from local HTTP servers on four loopback addresses (127.0.0.1-4, each its own "host",
as an image search's list spans sites), each answer after a fixed latency (--latency, 30 ms) standing in
for the internet; only these host:port pairs are on SIGHTLINE_URL_FETCH_ALLOWED_HOSTS, so every other
loopback or private address stays refused. Planted among 940 distinct JPEGs: 20 answer 404, 10 answer
after 5 s (past the 1 s fetch timeout), 10 are larger than the image limit, 10 are HTML pages, 10
redirect to a private address (10.0.0.1). Three ways, each storing every image it fetched through
``image_add`` into a fresh dataset (same checks, dedup, thumbnails, rows), on a throw-away SQLite:
  sequential   the seed's way: urllib, one URL at a time (no SSRF checks: the private redirect is
               followed and waits out its timeout)
  threads      the competent quick way: a ThreadPoolExecutor of 8 urllib fetches, no politeness, no
               retries, no SSRF checks
  sightline    the import job (``url_list_import_start`` then the job runner, as a cpu worker runs it):
               the SSRF-safe fetcher, 8 at once, 2 per host, temporary failures retried twice
Storing runs on one thread in all three ways (``image_add``: decode, thumbnail, near-duplicate lookup,
rows), so once fetching overlaps it, storing is what bounds them; "fetch only" then times the fetching
alone: the threads' urllib fetches against Sightline's scheduler (``url_fetch_pool.urls_fetch``).
Prints URLs/s per way (median of --repeats runs), ratios, and checks Sightline's report counts exactly.

    .venv/bin/python bench/url_import.py [--repeats 3] [--latency 0.03] [--var-dir DIR]
"""

import argparse
import http.server
import io
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HOSTS = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"]
IMAGE_LIMIT = 512 * 1024
FETCH_TIMEOUT = 1.0
PLANTED = {"http_error": 20, "timeout": 10, "too_large": 10, "not_image": 10, "refused": 10}
TOTAL = 1000
WORKERS = 8


def distinct_jpegs(count: int, seed: int = 0) -> list[bytes]:
    """``count`` different 96x96 photos-sized-down stand-ins (noise over a colour), 5-10 KB each."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        base = rng.integers(0, 256, size=3)
        pixels = np.clip(base + rng.normal(0, 40, size=(96, 96, 3)), 0, 255).astype("uint8")
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=85)
        images.append(buffer.getvalue())
    return images


class Routes:
    """path -> (status, headers, body, delay); shared by every host's server."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.table: dict[str, tuple[int, dict[str, str], bytes, float]] = {}


def start_servers(routes: Routes) -> list[str]:
    """One threaded server per loopback address; returns their host:port names."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            status, headers, body, delay = routes.table.get(self.path, (404, {}, b"not here", 0.0))
            time.sleep(routes.latency + delay)
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the client gave up (timed out, refused the size)

        def log_message(self, *args) -> None:
            pass

    names = []
    for host in HOSTS:
        server = http.server.ThreadingHTTPServer((host, 0), Handler)
        server.daemon_threads = True
        server.request_queue_size = 128
        threading.Thread(target=server.serve_forever, daemon=True).start()
        names.append(f"{host}:{server.server_address[1]}")
    return names


def plant(routes: Routes, hosts: list[str], seed: int) -> list[tuple[str, str]]:
    """The 1,000 (url, label) rows, shuffled, with the planted failures among them."""
    good = distinct_jpegs(TOTAL - sum(PLANTED.values()), seed=seed)
    rows: list[tuple[str, str]] = []
    for index, content in enumerate(good):
        routes.table[f"/good/{index}.jpg"] = (200, {"Content-Type": "image/jpeg"}, content, 0.0)
        rows.append((f"/good/{index}.jpg", f"class{index % 5}"))
    huge = b"\xff\xd8" + b"\0" * IMAGE_LIMIT
    for index in range(PLANTED["http_error"]):
        rows.append((f"/missing/{index}.jpg", "class0"))
    for index in range(PLANTED["timeout"]):
        routes.table[f"/slow/{index}.jpg"] = (200, {}, good[0], 5.0)
        rows.append((f"/slow/{index}.jpg", "class0"))
    for index in range(PLANTED["too_large"]):
        routes.table[f"/huge/{index}.jpg"] = (200, {"Content-Type": "image/jpeg"}, huge, 0.0)
        rows.append((f"/huge/{index}.jpg", "class0"))
    for index in range(PLANTED["not_image"]):
        routes.table[f"/page/{index}.jpg"] = (200, {"Content-Type": "text/html"}, b"<html>a page</html>", 0.0)
        rows.append((f"/page/{index}.jpg", "class0"))
    for index in range(PLANTED["refused"]):
        routes.table[f"/redirect/{index}.jpg"] = (302, {"Location": f"http://10.0.0.1/{index}.jpg"}, b"", 0.0)
        rows.append((f"/redirect/{index}.jpg", "class0"))
    random.Random(seed).shuffle(rows)
    return [(f"http://{hosts[index % len(hosts)]}{path}", label) for index, (path, label) in enumerate(rows)]


def setup_django(var_dir: str, hosts: list[str]) -> None:
    os.environ.update(
        {
            "SIGHTLINE_DEV": "1",
            "SIGHTLINE_VAR_DIR": var_dir,
            "DJANGO_SETTINGS_MODULE": "webapp.settings",
            "SIGHTLINE_URL_FETCH_ALLOWED_HOSTS": ",".join(hosts),
            "SIGHTLINE_URL_FETCH_TIMEOUT_SECONDS": str(FETCH_TIMEOUT),
            "SIGHTLINE_URL_FETCH_DEADLINE_SECONDS": "3",
            "SIGHTLINE_MAX_IMAGE_BYTES": str(IMAGE_LIMIT),
            "SIGHTLINE_URL_IMPORT_RETRY_BACKOFF_SECONDS": "0.2",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _urllib_fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as response:  # noqa: S310 - the seed's way
        return response.read(IMAGE_LIMIT + 1)


def _store(dataset, url: str, label: str, content: bytes | None, counts: Counter) -> None:
    from classifier.models import DatasetImage
    from classifier.services.images import image_add
    from classifier.services.imaging import ImageRejected

    if content is None:
        return
    try:
        image_add(
            dataset=dataset,
            content=content,
            filename=url.rsplit("/", 1)[-1],
            label_name=label,
            origin=DatasetImage.Origin.IMPORT,
        )
        counts["imported"] += 1
    except ImageRejected as rejection:
        counts[rejection.reason] += 1


def _fetch_or_count(url: str, counts: Counter) -> bytes | None:
    try:
        content = _urllib_fetch(url)
    except urllib.error.HTTPError as error:
        counts["http_error" if error.code != 302 else "refused"] += 1
        return None
    except (TimeoutError, urllib.error.URLError, OSError):
        counts["timeout"] += 1
        return None
    if len(content) > IMAGE_LIMIT:
        counts["too_large"] += 1
        return None
    return content


def run_sequential(dataset, rows: list[tuple[str, str]]) -> Counter:
    counts: Counter = Counter()
    for url, label in rows:
        _store(dataset, url, label, _fetch_or_count(url, counts), counts)
    return counts


def run_threads(dataset, rows: list[tuple[str, str]]) -> Counter:
    counts: Counter = Counter()
    fetch_counts: Counter = Counter()
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = {pool.submit(_fetch_or_count, url, fetch_counts): (url, label) for url, label in rows}
        for future in as_completed(futures):
            url, label = futures[future]
            _store(dataset, url, label, future.result(), counts)
    return counts + fetch_counts


def run_sightline(dataset, user, rows: list[tuple[str, str]]) -> dict:
    from unittest import mock

    from django.core.files.uploadedfile import SimpleUploadedFile

    from classifier.services.url_imports import url_list_import_start
    from training_jobs.models import Job
    from training_jobs.runner import job_run

    text = "url,label\n" + "".join(f"{url},{label}\n" for url, label in rows)
    # No broker here: the job is run below by the runner itself, as a cpu worker would.
    with mock.patch("training_jobs.services.job_send", lambda job_id: True):
        job = url_list_import_start(
            dataset=dataset, requested_by=user, urls=SimpleUploadedFile("urls.csv", text.encode())
        )
    job_run(job_id=job.id)
    job = Job.objects.get(id=job.id)
    assert job.status == Job.Status.SUCCEEDED, job.error
    return job.report


def fetch_only_threads(rows: list[tuple[str, str]]) -> None:
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        list(pool.map(lambda row: _fetch_or_count(row[0], Counter()), rows))


def fetch_only_sightline(rows: list[tuple[str, str]]) -> None:
    from classifier.services.url_fetch_pool import urls_fetch

    for _outcome in urls_fetch([url for url, _label in rows]):
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.03, help="seconds each answer waits (the internet)")
    parser.add_argument("--var-dir", default="")
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()

    routes = Routes(options.latency)
    hosts = start_servers(routes)
    rows = plant(routes, hosts, options.seed)
    setup_django(options.var_dir or tempfile.mkdtemp(prefix="sightline-url-bench-"), hosts)
    from django.contrib.auth.models import User

    from classifier.models import Dataset
    from classifier.services.url_imports import URL_REPORT_REASONS

    # Staff: no image or job quotas, so only the import itself is measured.
    user, _ = User.objects.get_or_create(username="bench", defaults={"is_staff": True})
    print(f"{len(rows)} URLs on {len(hosts)} hosts, {options.latency * 1000:.0f} ms latency; planted: {PLANTED}")
    timings: dict[str, list[float]] = {"sequential": [], "threads": [], "sightline": []}
    expected = {"imported": TOTAL - sum(PLANTED.values()), **PLANTED}
    exact = True
    for repeat in range(options.repeats):
        for way in timings:
            dataset = Dataset.objects.create(owner=user, name=f"{way}-{repeat}")
            started = time.perf_counter()
            if way == "sightline":
                report = run_sightline(dataset, user, rows)
                counts = {reason: report[reason] for reason in ("imported", *URL_REPORT_REASONS) if report[reason]}
                exact &= counts == expected
                print(f"  sightline report (run {repeat + 1}): {counts} {'exact' if counts == expected else 'WRONG'}")
            elif way == "threads":
                counts = run_threads(dataset, rows)
            else:
                counts = run_sequential(dataset, rows)
            elapsed = time.perf_counter() - started
            timings[way].append(elapsed)
            print(f"  {way:<10} run {repeat + 1}: {elapsed:6.1f} s, {len(rows) / elapsed:6.1f} URLs/s; {dict(counts)}")

    fetch_timings: dict[str, list[float]] = {"threads": [], "sightline": []}
    for _repeat in range(options.repeats):
        for way, fetch in (("threads", fetch_only_threads), ("sightline", fetch_only_sightline)):
            started = time.perf_counter()
            fetch(rows)
            fetch_timings[way].append(time.perf_counter() - started)
    fetch_rates = {way: len(rows) / statistics.median(times) for way, times in fetch_timings.items()}

    rates = {way: len(rows) / statistics.median(times) for way, times in timings.items()}
    print("\nmedian throughput (URLs/s):")
    for way, rate in rates.items():
        print(f"  {way:<10} {rate:6.1f}  ({rate / rates['sequential']:.1f}x sequential)")
    print(f"sightline / threads: {rates['sightline'] / rates['threads']:.2f}x")
    print("fetch only, median (URLs/s):")
    for way, rate in fetch_rates.items():
        print(f"  {way:<10} {rate:6.1f}")
    print(f"sightline / threads (fetch only): {fetch_rates['sightline'] / fetch_rates['threads']:.2f}x")
    print(f"report counts exact on every run: {exact}")


if __name__ == "__main__":
    main()
