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
import os
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.url_import_servers import IMAGE_LIMIT, PLANTED, TOTAL, Routes, plant, start_servers  # noqa: E402

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from classifier.models import Dataset

FETCH_TIMEOUT = 1.0
WORKERS = 8


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
        content: bytes = response.read(IMAGE_LIMIT + 1)
        return content


def _store(dataset: "Dataset", url: str, label: str, content: bytes | None, counts: Counter[str]) -> None:
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


def _fetch_or_count(url: str, counts: Counter[str]) -> bytes | None:
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


def run_sequential(dataset: "Dataset", rows: list[tuple[str, str]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for url, label in rows:
        _store(dataset, url, label, _fetch_or_count(url, counts), counts)
    return counts


def run_threads(dataset: "Dataset", rows: list[tuple[str, str]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    fetch_counts: Counter[str] = Counter()
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = {pool.submit(_fetch_or_count, url, fetch_counts): (url, label) for url, label in rows}
        for future in as_completed(futures):
            url, label = futures[future]
            _store(dataset, url, label, future.result(), counts)
    return counts + fetch_counts


def run_sightline(dataset: "Dataset", user: "User", rows: list[tuple[str, str]]) -> dict[str, Any]:
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
    report: dict[str, Any] = job.report
    return report


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
