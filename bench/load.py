"""Sync predictions under load: N concurrent API clients against the production web server for a bounded
time, beside the interpreter's own ceiling on this machine's cores, measured in the same run.

Sets up a throw-away platform (as predict_latency.py: SQLite, or PostgreSQL with --database-url, as
production runs; rate limits counted in each process's memory, or in Redis with --cache-url, as production
counts them), starts gunicorn with webapp/gunicorn.conf.py on 127.0.0.1 (its defaults: a worker per
core and one more, each answering one request at a time, no keep-alive; SIGHTLINE_WEB_* in the
environment change them), then:
  ceiling  one process per core, each calling the LiteRT interpreter (Lite0, one thread) on decoded pixels
           in a loop for --ceiling-seconds, before the load and after it (the mean counts): the images/s
           no server on these cores can beat;
  load     --clients clients, each sending POST /api/v1/model-versions/{lite0}/predict/ (token auth, one
           224x224 JPEG; a new connection whenever the server closed the last one) as soon as the last
           answer came, for --seconds. The clients are asyncio coroutines over raw sockets in --processes
           processes, so they cost the server little CPU; what they used is printed.
Prints requests/s, latency p50/p95/p99/max, errors (any answer but 200, a dropped connection, a timeout),
the load generator's and the server's CPU, and requests/s as a share of the ceiling.
Targets (50 clients, 60 s): 0 errors, >= 60% of the ceiling, p99 <= 500 ms.

    .venv/bin/python bench/load.py [--clients 50] [--seconds 60] [--var-dir DIR]
        [--database-url postgres://postgres@127.0.0.1:5432/sightline_bench] [--cache-url redis://127.0.0.1:6379/13]
"""

import argparse
import asyncio
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multiprocessing.queues import Queue

    import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.serving_platform import free_port, multipart, percentile, setup_platform, start_web, test_jpeg  # noqa: E402

REQUEST_TIMEOUT_S = 30


def ceiling_worker(model_bytes: bytes, pixels: "np.ndarray", seconds: float, results: "Queue[float]") -> None:
    from classifier.ml.predictor import TFLitePredictor

    predictor = TFLitePredictor(model_bytes, num_threads=1)
    for _ in range(5):
        predictor.predict(pixels)
    count, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        predictor.predict(pixels)
        count += 1
    results.put(count / seconds)


def interpreter_ceiling(model_bytes: bytes, pixels: "np.ndarray", seconds: float) -> float:
    """Images/s of one single-threaded interpreter per core, all running at once."""
    context = multiprocessing.get_context("fork")
    results: Queue[float] = context.Queue()
    workers = [
        context.Process(target=ceiling_worker, args=(model_bytes, pixels, seconds, results))
        for _ in range(os.cpu_count() or 1)
    ]
    for worker in workers:
        worker.start()
    rates: list[float] = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
    return sum(rates)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """The status and body of one HTTP/1.1 response (Content-Length or chunked), and whether the server
    closes the connection after it (``Connection: close``)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if b":" in line:
            name, value = line.split(b":", 1)
            headers[name.strip().lower()] = value.strip()
    closes = headers.get(b"connection", b"").lower() == b"close"
    if b"content-length" in headers:
        return status, await reader.readexactly(int(headers[b"content-length"])), closes
    body = b""
    while True:  # chunked
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        chunk = await reader.readexactly(size + 2)
        if not size:
            return status, body, closes
        body += chunk[:-2]


async def client(port: int, request: bytes, deadline: float, latencies: list[float], errors: list[str]) -> None:
    reader = writer = None
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            if reader is None or writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            status, body, closes = await asyncio.wait_for(read_response(reader), REQUEST_TIMEOUT_S)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as error:
            errors.append(type(error).__name__)
            if writer is not None:
                writer.close()
            reader = writer = None
            continue
        if status != 200 or b'"prediction_id"' not in body:
            errors.append(f"HTTP {status}")
        else:
            latencies.append((time.perf_counter() - started) * 1000)
        if closes:
            # The server ends the connection after this answer (keep-alive off): the next request opens
            # another, and pays for it in its latency.
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


def load_process(
    port: int,
    requests: list[bytes],
    start_at: float,
    seconds: float,
    results: "Queue[tuple[list[float], list[str], float]]",
) -> None:
    async def run() -> tuple[list[float], list[str]]:
        latencies: list[float] = []
        errors: list[str] = []
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(client(port, request, deadline, latencies, errors) for request in requests))
        return latencies, errors

    latencies, errors = asyncio.run(run())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    results.put((latencies, errors, usage.ru_utime + usage.ru_stime))


def client_tokens(count: int) -> list[str]:
    """An account's API token per client, as that many API users would send: each account's rate limit
    and history then grow at one client's pace."""
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    tokens = []
    for number in range(count):
        user, _ = User.objects.get_or_create(username=f"bench-load-{number}")
        tokens.append(Token.objects.get_or_create(user=user)[0].key)
    return tokens


def process_tree_cpu_seconds(master: int) -> float:
    """User + system CPU seconds of gunicorn's master and its workers so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == master or int(fields[1]) == master:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--ceiling-seconds", type=float, default=10)
    parser.add_argument("--var-dir", help="reuse a platform folder (skips the model install next time)")
    parser.add_argument("--database-url", default="", help="PostgreSQL instead of SQLite (created when missing)")
    parser.add_argument("--cache-url", default="", help="Redis for the rate limits' counts, as production keeps them")
    arguments = parser.parse_args()
    var_dir = arguments.var_dir or tempfile.mkdtemp(prefix="sightline-bench-")
    _token, versions, env = setup_platform(var_dir, arguments.database_url, arguments.cache_url)
    lite0 = versions[0]

    from django.core.files.storage import default_storage

    from classifier.ml.images import load_array
    from classifier.services.storage import stored_file_name

    jpeg = test_jpeg()
    with default_storage.open(stored_file_name(lite0.tflite_file), "rb") as file:
        model_bytes = file.read()
    pixels = load_array(jpeg, lite0.image_size)
    # Measured before and after the load, and averaged: on a shared machine the neighbours' work changes
    # what the cores give within minutes.
    ceilings = [interpreter_ceiling(model_bytes, pixels, arguments.ceiling_seconds)]

    body, content_type = multipart(jpeg)
    requests = [
        (
            f"POST /api/v1/model-versions/{lite0.id}/predict/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Token {key}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        for key in client_tokens(arguments.clients)
    ]

    port = free_port()
    server = start_web(env, port, workers=0)
    try:
        context = multiprocessing.get_context("fork")
        # Warm-up: every worker loads the model and opens its database connections.
        warm = context.Queue()
        load_process(port, requests[:16], time.monotonic(), 3, warm)
        latencies, errors, _ = warm.get()
        if errors:
            raise SystemExit(f"warm-up failed: {errors[:5]}")

        results = context.Queue()
        start_at = time.monotonic() + 1.0
        generators = [
            context.Process(target=load_process, args=(port, share, start_at, arguments.seconds, results))
            for share in (requests[index :: arguments.processes] for index in range(arguments.processes))
            if share
        ]
        for generator in generators:
            generator.start()
        server_cpu = process_tree_cpu_seconds(server.pid)
        latencies, errors, generator_cpu = [], [], 0.0
        for _ in generators:
            process_latencies, process_errors, cpu = results.get()
            latencies += process_latencies
            errors += process_errors
            generator_cpu += cpu
        server_cpu = process_tree_cpu_seconds(server.pid) - server_cpu
        for generator in generators:
            generator.join()
    finally:
        server.terminate()
        server.wait(timeout=30)
    ceilings.append(interpreter_ceiling(model_bytes, pixels, arguments.ceiling_seconds))
    ceiling = statistics.fmean(ceilings)

    seconds = arguments.seconds
    rate = len(latencies) / seconds
    from webapp.web_tier import web_threads, web_worker_class, web_workers

    print(f"\n{arguments.clients} clients for {seconds:.0f} s, Lite0 at {lite0.image_size}px (float)")
    print(f"server: gunicorn, {web_workers()} workers x {web_threads()} threads ({web_worker_class()})")
    counts = env.get("SIGHTLINE_CACHE_URL") or "process memory"
    print(f"database: {env.get('DATABASE_URL', 'SQLite')}; rate limit counts: {counts}")
    print(
        f"interpreter ceiling: {ceiling:.0f} images/s ({os.cpu_count()} processes, one thread each; "
        f"{ceilings[0]:.0f} before the load, {ceilings[1]:.0f} after)"
    )
    kinds = f" {sorted(set(errors))}" if errors else ""
    print(f"requests answered 200: {len(latencies)}   errors: {len(errors)}{kinds}")
    print(f"requests/s: {rate:.1f}   = {rate / ceiling:.0%} of the interpreter ceiling (target >= 60%)")
    if latencies:
        print(
            "latency ms: "
            + "  ".join(f"p{int(q * 100)} {percentile(latencies, q):.0f}" for q in (0.5, 0.95, 0.99))
            + f"  max {max(latencies):.0f}   (target p99 <= 500 ms)"
        )
    print(
        f"CPU: load generator {generator_cpu:.1f} s ({generator_cpu / seconds:.2f} cores, "
        f"{generator_cpu / max(len(latencies), 1) * 1000:.2f} ms per request); "
        f"web server {server_cpu:.1f} s ({server_cpu / seconds:.2f} cores)"
    )


if __name__ == "__main__":
    main()
