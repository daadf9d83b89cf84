"""Hostile requests: a thousand-odd crafted requests against a real gunicorn, and what they leave behind.

Sets up a throw-away platform (see predict_latency.py: SQLite in a temp folder, the ImageNet models),
two users each with a dataset of a few images, a version, a prediction and a finished batch job, and
records every row and stored file. Then sends, over HTTP: decompression bombs, truncated and bit-flipped
images, hostile ZIPs (zip slip, absolute and symlink members, bombs, nested, odd compression), bad
labels and URL CSVs, bodies declared beyond the limits (headers only), malformed multipart, JSON
garbage, huge and bad query values, forged headers, the other user's ids, top_k/threshold extremes,
unsafe URLs, and a burst of failed logins that must be throttled. The jobs those requests queued run
in-process afterwards, as a worker would run them (training is not run).
Targets: 0 server errors, 0 tracebacks (responses, gunicorn's log, job errors), nothing pre-existing
lost or changed, every response under 1 MB, every other user's object answered 404.
    .venv/bin/python bench/hostile.py [--var-dir DIR] [--seed 0]

The files, the client and the requests, by kind, are in ``bench/hostile_cases/``; this is the runner.
"""

import argparse
import collections
import http.client as http_client
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.hostile_cases.access import send_across_users  # noqa: E402
from bench.hostile_cases.archives import zip_of  # noqa: E402
from bench.hostile_cases.client import Client, Tally, multipart  # noqa: E402
from bench.hostile_cases.images import encoded, good_images  # noqa: E402
from bench.hostile_cases.inputs import send_bad_values  # noqa: E402
from bench.hostile_cases.malformed import send_malformed  # noqa: E402
from bench.hostile_cases.platform import (  # noqa: E402
    Actor,
    Fingerprint,
    actor_make,
    fingerprint,
    fingerprint_compare,
    owned_counts,
    run_queued_jobs,
)
from bench.hostile_cases.uploads import send_uploads  # noqa: E402
from bench.serving_platform import free_port, setup_platform, start_web  # noqa: E402

MAX_RESPONSE_BYTES = 1024 * 1024
# Lower than the defaults so a few requests reach each limit without building gigabytes.
LIMITS = {
    "SIGHTLINE_MAX_ARCHIVE_MEMBERS": "2000",
    "SIGHTLINE_MAX_ARCHIVE_BYTES": str(64 * 1024 * 1024),
    "SIGHTLINE_MAX_REQUEST_BYTES": str(32 * 1024 * 1024),
    "SIGHTLINE_MAX_IMAGE_BYTES": str(4 * 1024 * 1024),
    "SIGHTLINE_MAX_IMAGE_PIXELS": "20000000",
    # Measured handling, not rate limits: only the token (login) throttle keeps its default of 10/min.
    "SIGHTLINE_THROTTLE_PREDICTIONS": "1000000/min",
    "SIGHTLINE_THROTTLE_SIGNUP": "1000000/hour",
    "SIGHTLINE_QUOTA_ACTIVE_JOBS": "100000",
    "SIGHTLINE_QUOTA_ACTIVE_GPU_JOBS": "100000",
    "SIGHTLINE_URL_FETCH_DNS_TIMEOUT_SECONDS": "1",
    "SIGHTLINE_URL_FETCH_TIMEOUT_SECONDS": "1",
    "SIGHTLINE_URL_FETCH_DEADLINE_SECONDS": "3",
}


def send_all(client: Client, alice: Actor, bob: Actor, public_version: int, rng: random.Random) -> None:
    """Every hostile request, in a fixed order (``rng`` draws the same files for the same seed)."""
    goods = good_images(rng)
    send_uploads(client, alice, public_version, goods, rng)
    send_malformed(client, alice, goods["photo.jpg"])
    send_bad_values(client, alice, goods["photo.jpg"])
    send_across_users(client, alice, bob, goods["photo.jpg"])


def setup_objects(client: Client, actor: Actor, run_job: Callable[[int], None]) -> None:
    """A prediction and a finished batch job for ``actor``, made through the API before the fingerprint."""
    from PIL import Image

    from training_jobs.models import Job

    jpeg = encoded(Image.new("RGB", (80, 80), (200, 30, 30)), "JPEG")
    body, content_type = multipart([("image", "red.jpg", jpeg, "image/jpeg")])
    connection = http_client.HTTPConnection("127.0.0.1", client.port, timeout=120)
    connection.request(
        "POST",
        f"/api/v1/model-versions/{actor.version}/predict/",
        body=body,
        headers={"Authorization": f"Token {actor.token}", "Content-Type": content_type},
    )
    response = connection.getresponse()
    content = response.read()
    if response.status != 200:
        raise SystemExit(f"the setup prediction answered {response.status}: {content[:500]!r}")
    answer = json.loads(content)
    actor.prediction = answer["prediction_id"]
    archive = zip_of([("a.jpg", jpeg), ("b.jpg", jpeg), ("c.txt", b"not an image")])
    body, content_type = multipart([("archive", "three.zip", archive, "application/zip")])
    connection.request(
        "POST",
        f"/api/v1/model-versions/{actor.version}/batch-predictions/",
        body=body,
        headers={"Authorization": f"Token {actor.token}", "Content-Type": content_type},
    )
    actor.job = json.loads(connection.getresponse().read())["job"]["id"]
    connection.close()
    run_job(actor.job)
    if Job.objects.get(id=actor.job).status != Job.Status.SUCCEEDED:
        raise SystemExit("the setup batch job failed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var-dir", help="reuse a platform folder (skips the model install next time)")
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    rng = random.Random(arguments.seed)
    for name, value in LIMITS.items():
        os.environ.setdefault(name, value)
    var_dir = arguments.var_dir or tempfile.mkdtemp(prefix="sightline-hostile-")
    print(f"platform in {var_dir}; installing the ImageNet models (a few minutes the first time)…", flush=True)
    _token, versions, env = setup_platform(var_dir)

    from django.conf import settings

    from classifier.models import Prediction
    from training_jobs.models import Job
    from training_jobs.tasks import run_job

    suffix = int(time.time()) % 10**6  # new users and datasets on a reused platform folder
    alice = actor_make(f"alice{suffix}", versions[0], rng)
    bob = actor_make(f"bob{suffix}", versions[0], rng)

    port = free_port()
    log_path = Path(var_dir) / f"gunicorn-{suffix}.log"
    # gunicorn inherits stderr: point it at a file for the run, so its log can be searched.
    saved_stderr = os.dup(2)
    with open(log_path, "wb") as log:
        os.dup2(log.fileno(), 2)
    try:
        server = start_web(env, port, workers=2)
    finally:
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)
    tally = Tally()
    client = Client(port, tally)
    try:
        setup_objects(client, alice, run_job)
        setup_objects(client, bob, run_job)
        before = fingerprint(Path(settings.MEDIA_ROOT))
        jobs_before = set(Job.objects.values_list("id", flat=True))
        predictions_before = set(Prediction.objects.values_list("id", flat=True))
        bob_before = owned_counts(bob)
        print(f"fingerprint: {len(before[0]):,} rows, {len(before[1]):,} files; sending…", flush=True)
        started = time.perf_counter()
        send_all(client, alice, bob, versions[0].id, rng)
        sending = time.perf_counter() - started
        print(f"{len(tally.outcomes):,} requests in {sending:.0f} s; running the queued jobs…", flush=True)
        ran = run_queued_jobs(jobs_before=jobs_before, predictions_before=predictions_before)
        # Each new job's detail, as its owner reads it: the reports must stay small too.
        for job_id in Job.objects.exclude(id__in=jobs_before).values_list("id", flat=True):
            client.send("job-detail", "GET", f"/api/v1/jobs/{job_id}/", token=alice.token, expect=(200,))
            client.send("job-detail", "GET", f"/api/v1/jobs/{job_id}/report/", token=alice.token, expect=(200, 404))
        after = fingerprint(Path(settings.MEDIA_ROOT))
        bob_after = owned_counts(bob)
        if bob_after != bob_before:
            tally.leaks.append(f"bob's rows changed by alice's requests: {bob_before} → {bob_after}")
    finally:
        server.terminate()
        server.wait(timeout=30)

    report(tally, ran, before, after, jobs_before, log_path)


def report(
    tally: Tally, ran: dict[str, int], before: Fingerprint, after: Fingerprint, jobs_before: set[int], log_path: Path
) -> None:
    from training_jobs.models import Job

    outcomes = tally.outcomes
    statuses = collections.Counter(outcome.status for outcome in outcomes)
    server_errors = [o for o in outcomes if o.status >= 500]
    no_answer = [o for o in outcomes if o.status <= 0]
    tracebacks = [o for o in outcomes if o.traceback]
    largest = max((o for o in outcomes if not o.download), key=lambda o: o.size)
    downloads = [o for o in outcomes if o.download]
    slowest = sorted(outcomes, key=lambda o: o.seconds)[-5:]
    log = log_path.read_text(errors="replace")
    log_tracebacks = log.count("Traceback (most recent call last)")
    problems = [
        problem
        for problem in fingerprint_compare(before, after)
        if not any(problem.startswith(f"row changed: {key}") for key in tally.accepted_changes)
    ]
    new_jobs = Job.objects.exclude(id__in=jobs_before)
    job_statuses = collections.Counter(f"{job.kind}:{job.status}" for job in new_jobs)
    job_tracebacks = [
        job.id for job in new_jobs if "Traceback" in (job.error or "") or "Traceback" in json.dumps(job.report or {})
    ]
    largest_report = max((len(json.dumps(job.report or {})) for job in new_jobs), default=0)

    print("\nby category:")
    for category, count in sorted(collections.Counter(o.category for o in outcomes).items()):
        codes = collections.Counter(o.status for o in outcomes if o.category == category)
        print(f"  {category:<16} {count:>5}  {dict(sorted(codes.items()))}")
    print(f"\nstatus histogram: {dict(sorted(statuses.items()))}")
    print(f"jobs run in-process: {ran}; new jobs by kind:status: {dict(sorted(job_statuses.items()))}")
    print(f"largest new job report: {largest_report:,} bytes")
    print("slowest: " + "; ".join(f"{o.label[:60]} {o.seconds:.1f}s ({o.status})" for o in slowest))
    for line in tally.unexpected[:40]:
        print(f"  unexpected: {line}")
    if len(tally.unexpected) > 40:
        print(f"  … {len(tally.unexpected) - 40} more unexpected statuses")
    for outcome in server_errors + no_answer:
        print(f"  {outcome.status} {outcome.category}: {outcome.label} {outcome.note}")
    for problem in problems[:20]:
        print(f"  state: {problem}")
    print(f"\ngunicorn log: {log_path}")
    print(f"requests:                {len(outcomes):>7,}   (target ≥ 1,000)")
    print(f"server errors (5xx):     {len(server_errors):>7}   (target 0)")
    print(f"no answer / closed:      {len(no_answer):>7}")
    print(f"tracebacks in responses: {len(tracebacks):>7}   (target 0)")
    print(f"tracebacks in the log:   {log_tracebacks:>7}   (target 0)")
    raised = ran.get("jobs raised", 0) + ran.get("predictions raised", 0)
    print(f"jobs raised / traceback: {raised:>3} / {len(job_tracebacks):<3}   (target 0)")
    print(f"other user's data given: {len(tally.leaks):>7}   (target 0) {tally.leaks[:5]}")
    print(
        f"largest response:        {largest.size:>7,} bytes ({largest.label[:60]})   (target < {MAX_RESPONSE_BYTES:,})"
    )
    largest_download = max((o.size for o in downloads), default=0)
    print(f"file downloads:          {len(downloads):>7}   (streamed, not counted; largest {largest_download:,} bytes)")
    print(f"throttled (429):         {statuses.get(429, 0):>7}   (expected > 0: the failed-login burst)")
    state = "unchanged" if not problems else f"{len(problems)} problems"
    if tally.accepted_changes:
        state += f"; changed by accepted requests to alice's own objects: {sorted(tally.accepted_changes)}"
    print(f"pre-existing state:      {state} ({len(before[0]):,} rows, {len(before[1]):,} files)")


if __name__ == "__main__":
    main()
