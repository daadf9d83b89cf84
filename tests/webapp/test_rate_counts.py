"""The rate limits' counts: DRF's rule, kept atomically, so concurrent requests from several web processes
cannot slip past a limit, in Redis (shared) and in one process's memory (development)."""

import threading
import uuid
from array import array

import pytest
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache

from tests.webapp.redis_support import REDIS_URL, redis_or_skip
from webapp.rate_counts import Counted, request_count


def _redis(prefix: str) -> RedisCache:
    redis_or_skip()
    # A client of its own, as each gunicorn worker has.
    return RedisCache(REDIS_URL, {"KEY_PREFIX": prefix})


def _at_once(clients: int, work) -> None:
    """``work()`` in ``clients`` threads, started together, as requests reaching several processes at once."""
    start = threading.Barrier(clients)

    def client() -> None:
        start.wait()
        work()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.fixture
def prefix():
    """A key prefix of the test's own; its Redis keys are deleted after it (when it used Redis)."""
    prefix = f"test-counts-{uuid.uuid4().hex}"
    yield prefix
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
    except redis.exceptions.RedisError:
        pass


@pytest.fixture(params=["redis", "local"])
def caches(request, prefix):
    """A factory of caches that share counts as the web processes' caches do: Redis clients of one server,
    or (development) one process's memory."""
    if request.param == "redis":
        _redis(prefix)  # skips the test when Redis is not there
        return lambda: _redis(prefix)
    shared = LocMemCache(f"counts-{prefix}", {})
    return lambda: shared


def _count(cache, now, *, key="k", duration=60.0, limit=3) -> Counted:
    return request_count(cache=cache, key=key, now=now, duration=duration, limit=limit)


def test_the_limit_holds_within_the_period_and_a_refusal_is_not_counted(caches):
    cache = caches()
    answers = [_count(cache, 1000.0 + second).allowed for second in range(5)]

    assert answers == [True, True, True, False, False]
    # The oldest counted request (t=1000) leaves the period at 1060: one more then, not three.
    assert _count(cache, 1059.9) == Counted(allowed=False, frees_at=1000.0)
    assert [_count(cache, 1060.5).allowed, _count(cache, 1060.6).allowed] == [True, False]
    assert _count(cache, 1061.5).allowed  # t=1001 left; the refused ones at 1003, 1004 never counted


def test_after_the_limit_was_lowered_the_wait_is_until_the_count_is_below_it(caches):
    cache = caches()
    for second in range(4):
        assert _count(cache, 1000.0 + second, limit=10).allowed

    # Four counted at 1000..1003, the limit now 2: one more only once three have left, at 1062.
    assert _count(cache, 1010.0, limit=2) == Counted(allowed=False, frees_at=1002.0)
    assert not _count(cache, 1061.5, limit=2).allowed
    assert _count(cache, 1062.5, limit=2).allowed


def test_keys_count_apart(caches):
    cache = caches()
    assert [_count(cache, 1000.0, limit=1).allowed, _count(cache, 1000.0, limit=1).allowed] == [True, False]
    assert _count(cache, 1000.0, key="other", limit=1).allowed


def test_a_limit_of_zero_refuses_everything(caches):
    assert _count(caches(), 1000.0, limit=0) == Counted(allowed=False, frees_at=1000.0)


def test_a_clock_set_back_keeps_the_count(caches):
    cache = caches()
    assert [_count(cache, 1000.0).allowed, _count(cache, 999.0).allowed, _count(cache, 1000.5).allowed] == [True] * 3

    assert _count(cache, 1001.0) == Counted(allowed=False, frees_at=999.0)


def test_concurrent_requests_from_several_processes_never_pass_the_limit(caches):
    """DRF's read-modify-write let most of them through: each reader saw the same short list."""
    limit, clients = 20, 8
    allowed = []

    def client() -> None:
        cache = caches()
        allowed.extend(_count(cache, 1000.0, limit=limit).allowed for _ in range(10))

    _at_once(clients, client)

    assert allowed.count(True) == limit
    assert len(allowed) == clients * 10


def test_redis_counts_on_after_the_server_closed_the_connection(prefix):
    cache = _redis(prefix)
    assert _count(cache, 1000.0).allowed
    pool = cache._cache.get_client(cache.make_key("k"), write=True).connection_pool
    pooled = pool.get_connection()
    pooled.send_command("CLIENT", "ID")
    pooled_id = pooled.read_response()
    pool.release(pooled)
    assert _redis(f"{prefix}-admin")._cache.get_client(write=True).client_kill_filter(_id=pooled_id) == 1

    assert [_count(cache, 1001.0).allowed, _count(cache, 1002.0).allowed, _count(cache, 1003.0).allowed] == [
        True,
        True,
        False,
    ]


def test_redis_replaces_drfs_list_left_by_an_earlier_version_and_forgets_the_key_after_the_period(prefix):
    cache = _redis(prefix)
    cache.set("k", [1000.0, 999.0], 60)

    assert _count(cache, 1000.0, limit=1).allowed
    assert not _count(cache, 1000.0, limit=1).allowed
    client = cache._cache.get_client(write=False)
    assert 0 < client.ttl(cache.make_key("k")) <= 60


def test_redis_loads_the_script_again_when_the_server_has_forgotten_it(prefix):
    cache = _redis(prefix)
    assert _count(cache, 1000.0).allowed
    cache._cache.get_client(write=True).script_flush()

    assert _count(cache, 1000.5).allowed


def test_process_memory_keeps_packed_times():
    cache = LocMemCache(f"counts-{uuid.uuid4().hex}", {})
    for second in range(3):
        _count(cache, 1000.0 + second, limit=10)

    stored = cache.get("k")
    assert isinstance(stored, array)
    assert list(stored) == [1000.0, 1001.0, 1002.0]


def test_drfs_throttles_count_in_the_configured_redis_atomically(settings, prefix):
    """The path production takes: a throttle holding django.core.cache.cache (a proxy for each thread's
    default cache), Redis configured. Threads get caches of their own, as processes do."""
    from django.core.cache import cache as default_cache
    from django.test import RequestFactory
    from rest_framework.exceptions import Throttled

    from webapp.throttling import AddressRateThrottle

    redis_or_skip()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    settings.SIGHTLINE_THROTTLE_RATES = {**settings.SIGHTLINE_THROTTLE_RATES, "token": "20/min"}
    allowed = []

    def client() -> None:
        for _ in range(10):
            try:
                allowed.append(AddressRateThrottle("token").allow_request(RequestFactory().post("/"), None))
            except Throttled:
                allowed.append(False)

    _at_once(8, client)

    assert AddressRateThrottle.cache is default_cache
    assert allowed.count(True) == 20
    redis = _redis(prefix)
    assert redis._cache.get_client(write=False).type(redis.make_key("rate_token_127.0.0.1")) == b"zset"
