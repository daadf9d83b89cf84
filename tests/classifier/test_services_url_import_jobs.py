"""URL-list imports: how jobs end (cancelled, resumed, the dataset deleted), progress, and the per-host and
overall limits on fetches. Every URL is fetched through the SSRF-safe fetcher from a local server (its
host:port the only entry of the allow-list)."""

import threading
import time

import pytest

from classifier.models import Dataset, DatasetImage
from classifier.services import url_imports
from classifier.services.datasets import dataset_delete
from classifier.services.url_imports import url_list_import_run, url_list_import_start
from tests.classifier.conftest import Route
from tests.classifier.import_support import stored_files
from tests.classifier.url_import_support import jpeg, url_list
from tests.factories import DatasetFactory
from training_jobs.models import Job
from training_jobs.reaper import jobs_reap
from training_jobs.runner import job_run
from training_jobs.services import job_cancel

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(user):
    return DatasetFactory(owner=user)


def test_cancelling_stops_the_import_between_urls(dataset, image_server, fast, run_url_import, monkeypatch, settings):
    settings.SIGHTLINE_URL_IMPORT_CONCURRENCY = 1
    real_add = url_imports.image_add

    def add_then_user_cancels(**kwargs):
        image = real_add(**kwargs)
        job_cancel(job=Job.objects.get(dataset=dataset))
        return image

    monkeypatch.setattr(url_imports, "image_add", add_then_user_cancels)
    for n in range(5):
        image_server.routes[f"/{n}.jpg"] = Route(body=jpeg(n))

    job = run_url_import(dataset, ["url,label", *(f"{image_server.url(f'/{n}.jpg')},cat" for n in range(5))])

    assert (job.status, job.message) == ("cancelled", "Cancelled")
    assert DatasetImage.objects.filter(dataset=dataset).count() == 1
    assert not any(name.startswith("imports/") for name in stored_files(settings))


class WorkerLost(BaseException):
    """Stands in for SIGKILL: nothing after the line that raises it runs, not even except clauses."""


def test_a_resumed_import_counts_what_it_stored_before_once(
    dataset, user, image_server, fast, monkeypatch, django_capture_on_commit_callbacks
):
    real_add = url_imports.image_add
    added = []

    def add_then_lose_the_worker(**kwargs):
        image = real_add(**kwargs)
        added.append(image.id)
        if len(added) == 2 and kwargs["job"].attempts == 1:
            raise WorkerLost()
        return image

    monkeypatch.setattr(url_imports, "image_add", add_then_lose_the_worker)
    for n in range(4):
        image_server.routes[f"/{n}.jpg"] = Route(body=jpeg(n))
    image_server.routes["/again.jpg"] = Route(body=jpeg(0))
    lines = [
        "url,label",
        *(f"{image_server.url(f'/{n}.jpg')},cat" for n in range(4)),
        f"{image_server.url('/again.jpg')},cat",
    ]
    with monkeypatch.context() as no_broker:
        no_broker.setattr("training_jobs.services.job_send", lambda job_id: True)
        job = url_list_import_start(dataset=dataset, requested_by=user, urls=url_list(lines))
    with pytest.raises(WorkerLost):
        job_run(job_id=job.id)
    assert DatasetImage.objects.filter(dataset=dataset).count() == 2
    Job.objects.filter(id=job.id).update(heartbeat_at=job.created_at.replace(year=2000))

    with django_capture_on_commit_callbacks(execute=True):
        # A new worker takes it (inline here).
        assert jobs_reap()["resumed"] == 1

    job.refresh_from_db()
    assert (job.status, job.attempts) == ("succeeded", 2)
    assert (job.report["imported"], job.report["duplicate"], job.report["total"]) == (4, 1, 5)
    assert DatasetImage.objects.filter(dataset=dataset, job=job).count() == 4


def test_progress_is_reported_as_urls_complete(dataset, user, image_server, fast, django_capture_on_commit_callbacks):
    for n in range(3):
        image_server.routes[f"/{n}.jpg"] = Route(body=jpeg(n))
    with django_capture_on_commit_callbacks():
        job = url_list_import_start(
            dataset=dataset,
            requested_by=user,
            urls=url_list(["url,label", ",cat", *(f"{image_server.url(f'/{n}.jpg')},cat" for n in range(3))]),
        )
    calls = []

    url_list_import_run(job=job, progress=lambda fraction, text, **options: calls.append((fraction, text)))

    # The row without a URL is reported before any fetch; progress counts it from the first URL that completes.
    assert calls == [(0.5, "2 of 4 URLs"), (0.75, "3 of 4 URLs"), (1.0, "4 of 4 URLs")]


def test_per_host_and_overall_limits_hold(settings, monkeypatch):
    from classifier.services import url_fetch_pool
    from classifier.services.url_fetch import FetchedContent

    settings.SIGHTLINE_URL_IMPORT_CONCURRENCY = 3
    settings.SIGHTLINE_URL_IMPORT_PER_HOST = 2
    lock = threading.Lock()
    active: dict[str, int] = {}
    peaks: dict[str, int] = {}
    overall = {"now": 0, "peak": 0}

    def fake_fetch(*, url):
        host = url_fetch_pool.url_host(url)
        with lock:
            active[host] = active.get(host, 0) + 1
            peaks[host] = max(peaks.get(host, 0), active[host])
            overall["now"] += 1
            overall["peak"] = max(overall["peak"], overall["now"])
        time.sleep(0.02)
        with lock:
            active[host] -= 1
            overall["now"] -= 1
        return FetchedContent(content=url.encode(), url=url, filename="x")

    monkeypatch.setattr(url_fetch_pool, "url_content_fetch", fake_fetch)
    urls = [f"http://host{n % 3}.example/{n}.jpg" for n in range(30)]

    outcomes = list(url_fetch_pool.urls_fetch(urls))

    assert sorted(outcome.index for outcome in outcomes) == list(range(30))
    assert all(outcome.fetched.content == urls[outcome.index].encode() for outcome in outcomes)
    assert max(peaks.values()) == 2 and overall["peak"] == 3


@pytest.mark.django_db(transaction=True)
def test_a_dataset_deleted_while_its_url_import_runs_leaves_no_rows_and_no_files(user, image_server, fast, monkeypatch):
    dataset = DatasetFactory(owner=user)
    real_add = url_imports.image_add

    def add_then_delete_dataset(**kwargs):
        image = real_add(**kwargs)
        if Dataset.objects.filter(id=dataset.id).exists():
            dataset_delete(dataset=Dataset.objects.get(id=dataset.id))  # the user deletes it meanwhile
        return image

    monkeypatch.setattr(url_imports, "image_add", add_then_delete_dataset)
    for n in range(4):
        image_server.routes[f"/{n}.jpg"] = Route(body=jpeg(n))

    # Real commits: the job is queued once the request commits and runs inline (eager tasks).
    url_list_import_start(
        dataset=dataset,
        requested_by=user,
        urls=url_list(["url,label", *(f"{image_server.url(f'/{n}.jpg')},cat" for n in range(4))]),
    )

    assert not Dataset.objects.filter(id=dataset.id).exists()
    assert not DatasetImage.objects.exists() and not Job.objects.exists()
    assert stored_files(fast) == []
