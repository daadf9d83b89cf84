"""Fetch many URLs at once, politely: a bounded number in flight, a few at a time per host, temporary
failures tried again after a pause.

Every fetch goes through ``url_fetch.url_content_fetch`` (the SSRF-safe fetcher predictions use); this
module only decides when each one starts. Results come back to the caller's thread as they finish, so
the caller stores them (database work stays on one thread) and can stop between any two of them.
"""

import heapq
import itertools
import queue
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from django.conf import settings

from classifier.services.url_fetch import FetchedContent, url_content_fetch
from classifier.services.url_targets import UrlRefused


@dataclass(frozen=True)
class UrlFetched:
    # The URL's position in the list given to ``urls_fetch``.
    index: int
    fetched: FetchedContent | None
    error: UrlRefused | None
    # Fetches made for it, retries included.
    tries: int


@dataclass(frozen=True)
class _Waiting:
    index: int
    tries: int


def url_host(url: str) -> str:
    """What politeness counts per: the host and port a URL names (before any redirect)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{(parts.hostname or '').lower()}:{port or parts.scheme}"


def retry_after_seconds(header: str | None) -> float | None:
    """A Retry-After header's wait in seconds (a number of seconds or an HTTP date), None if absent or unreadable."""
    if not header:
        return None
    text = header.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _retry_delay(error: UrlRefused, tries: int) -> float:
    backoff: float = settings.SIGHTLINE_URL_IMPORT_RETRY_BACKOFF_SECONDS * 2 ** (tries - 1)
    cap: float = settings.SIGHTLINE_URL_IMPORT_RETRY_AFTER_MAX_SECONDS
    asked = retry_after_seconds(error.retry_after)
    if asked is None:
        return backoff
    # A server that says when to come back is believed, up to the cap: one host's say-so must not stall
    # the whole list for hours.
    return max(backoff, min(asked, cap))


def urls_fetch(urls: list[str]) -> Iterator[UrlFetched]:
    """Yield each URL's outcome as its fetches end, in no particular order.

    At most ``SIGHTLINE_URL_IMPORT_CONCURRENCY`` fetches run at once, at most
    ``SIGHTLINE_URL_IMPORT_PER_HOST`` of them to one host, starting at least
    ``SIGHTLINE_URL_IMPORT_HOST_INTERVAL_SECONDS`` apart there; hosts take turns, so one slow host does
    not hold up the others. A temporary failure is tried again up to ``SIGHTLINE_URL_IMPORT_RETRIES``
    times, and a host that answered Retry-After gets no request before then.

    The fetches are scheduled on a thread of their own, so they go on while the caller stores what came
    back; a few outcomes at most wait for the caller, so memory stays bounded however slow it is.
    Closing the generator (the caller stopped: a cancelled job) drops the fetches not started; those
    running end within the fetch deadline and their results are dropped.
    """
    scheduler = _Scheduler(urls)
    threading.Thread(target=scheduler.run, name="sightline-url-import-scheduler", daemon=True).start()
    try:
        for _ in range(len(urls)):
            outcome = scheduler.outcomes.get()
            if isinstance(outcome, BaseException):
                raise outcome
            yield outcome
    finally:
        scheduler.stop.set()


class _Scheduler:
    # The longest the scheduler waits before looking again at whether the caller stopped or took outcomes.
    _POLL_SECONDS = 0.05

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.concurrency = max(1, settings.SIGHTLINE_URL_IMPORT_CONCURRENCY)
        self.per_host = max(1, settings.SIGHTLINE_URL_IMPORT_PER_HOST)
        self.interval = max(0.0, settings.SIGHTLINE_URL_IMPORT_HOST_INTERVAL_SECONDS)
        self.retries = max(0, settings.SIGHTLINE_URL_IMPORT_RETRIES)
        # Pictures in memory at once, fetching or fetched and not yet taken by the caller (each up to the
        # fetch size limit): no new fetch starts past this many, so a slow store bounds memory, not only
        # the number of fetches running.
        self.backlog = self.concurrency + 2
        self.outcomes: queue.Queue[UrlFetched | BaseException] = queue.Queue()
        self.stop = threading.Event()
        self.queues: dict[str, deque[_Waiting]] = {}
        for index, url in enumerate(urls):
            self.queues.setdefault(url_host(url), deque()).append(_Waiting(index, 0))
        self.turns = deque(self.queues)
        # Retries waiting out their pause: (due time, order, host, item).
        self.paused: list[tuple[float, int, str, _Waiting]] = []
        self.order = itertools.count()
        self.host_free_at: defaultdict[str, float] = defaultdict(float)
        self.busy: Counter[str] = Counter()
        self.running: dict[Future[FetchedContent], tuple[str, _Waiting]] = {}

    def run(self) -> None:
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="sightline-url-import")
        try:
            while not self.stop.is_set() and (self.running or self.paused or any(self.queues.values())):
                now = time.monotonic()
                while self.paused and self.paused[0][0] <= now:
                    _due, _order, host, item = heapq.heappop(self.paused)
                    self.queues[host].append(item)
                self._start_ready(pool, now)
                next_event = self._next_event(now)
                timeout = (
                    self._POLL_SECONDS if next_event is None else min(max(0.0, next_event - now), self._POLL_SECONDS)
                )
                if not self.running:
                    # Everything left waits for a pause, a host's interval, or the caller to catch up.
                    self.stop.wait(timeout)
                    continue
                done, _pending = wait(self.running, timeout=timeout, return_when=FIRST_COMPLETED)
                for future in done:
                    self._finished(future)
        except BaseException as error:
            # Handed to the caller's thread, which raises it: a bug must not pass for a finished import.
            self.outcomes.put(error)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _finished(self, future: Future[FetchedContent]) -> None:
        host, item = self.running.pop(future)
        self.busy[host] -= 1
        tries = item.tries + 1
        try:
            fetched = future.result()
        except UrlRefused as error:
            if error.temporary and tries <= self.retries:
                delay = _retry_delay(error, tries)
                due = time.monotonic() + delay
                if error.retry_after:
                    self.host_free_at[host] = max(self.host_free_at[host], due)
                heapq.heappush(self.paused, (due, next(self.order), host, _Waiting(item.index, tries)))
                return
            self.outcomes.put(UrlFetched(index=item.index, fetched=None, error=error, tries=tries))
        else:
            self.outcomes.put(UrlFetched(index=item.index, fetched=fetched, error=None, tries=tries))

    def _next_event(self, now: float) -> float | None:
        """When a paused retry falls due or a host with work waiting may be asked again, whichever is
        first; None when only a running fetch's end can let more start."""
        times = [self.paused[0][0]] if self.paused else []
        times += [
            self.host_free_at[host]
            for host, waiting in self.queues.items()
            if waiting and self.host_free_at[host] > now
        ]
        return min(times, default=None)

    def _room(self) -> bool:
        return len(self.running) < self.concurrency and len(self.running) + self.outcomes.qsize() < self.backlog

    def _start_ready(self, pool: ThreadPoolExecutor, now: float) -> None:
        """Start fetches, one per host per turn, while there is room overall and at the host."""
        started = True
        while started and self._room():
            started = False
            for _turn in range(len(self.turns)):
                host = self.turns[0]
                self.turns.rotate(-1)
                if not self._room():
                    return
                if not self.queues[host] or self.busy[host] >= self.per_host or self.host_free_at[host] > now:
                    continue
                item = self.queues[host].popleft()
                self.running[pool.submit(url_content_fetch, url=self.urls[item.index])] = (host, item)
                self.busy[host] += 1
                self.host_free_at[host] = now + self.interval
                started = True
