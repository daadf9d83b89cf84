"""The rate limits' counts: each key's request times within the last ``duration`` seconds, checked and
added to in one atomic step.

Why not DRF's own storage: ``SimpleRateThrottle`` reads the whole list of times from the cache, adds one and
writes it back. Two web processes reading the same list both add to it and the second write drops the
first one's request, so concurrent requests slip past the limit; and every request moves the whole list
(pickled) both ways, ~20 KB at 2,000 requests a minute. Here Redis keeps the times in a sorted set that a
script trims, counts and adds to at once (one round trip, nothing lost between processes); the
process-local cache of a development run keeps them under a lock, as packed floats.

The semantics are DRF's: a request is allowed while fewer than ``limit`` were allowed in the last
``duration`` seconds, a refused one is not counted, and the wait is until the oldest counted one ages out
(or, after the limit was lowered, the one whose leaving brings the count below it).
"""

import bisect
import threading
import uuid
from array import array
from dataclasses import dataclass

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache import cache as default_cache
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.redis import RedisCache
from redis.commands.core import Script

# KEYS[1]: the key; ARGV: now, duration, limit, a member unique to this request.
# Returns {1, 0} when the request is counted, {0, time} when it is refused: the time of the counted request
# whose ageing out allows one more (the oldest, unless the limit was lowered since more were counted).
# A key of another type is replaced.
_REDIS_SCRIPT = """
local key = KEYS[1]
local now, duration, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local kind = redis.call('TYPE', key).ok
if kind ~= 'zset' and kind ~= 'none' then
  redis.call('DEL', key)
end
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - duration)
local count = redis.call('ZCARD', key)
if count >= limit then
  local freeing = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
  return {0, freeing[2]}
end
redis.call('ZADD', key, now, ARGV[4])
redis.call('EXPIRE', key, math.ceil(duration))
return {1, '0'}
"""

_local_lock = threading.Lock()
# The script as redis-py runs it (EVALSHA, loaded again where a server has forgotten it); made on first use.
_redis_script: Script | None = None


@dataclass(frozen=True)
class Counted:
    """Whether the request was allowed (and counted); if not, ``frees_at`` is when the counted request
    whose leaving the period allows one more was made (the oldest, unless more than the limit are counted
    because the limit was lowered since)."""

    allowed: bool
    frees_at: float = 0.0


def request_count(*, cache: BaseCache, key: str, now: float, duration: float, limit: int) -> Counted:
    """Count a request made at ``now`` under ``key`` if fewer than ``limit`` were counted in the ``duration``
    seconds before it; see the module's docstring. ``cache`` may be ``django.core.cache.cache``, which
    stands for the default cache (of this thread)."""
    if limit <= 0:
        return Counted(allowed=False, frees_at=now)
    if cache is default_cache:
        # A proxy (what DRF's throttles hold): isinstance must see the cache it stands for.
        cache = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(cache, RedisCache):
        return _redis_count(cache, key, now=now, duration=duration, limit=limit)
    return _local_count(cache, key, now=now, duration=duration, limit=limit)


def _redis_count(cache: RedisCache, key: str, *, now: float, duration: float, limit: int) -> Counted:
    global _redis_script
    full_key = cache.make_and_validate_key(key)
    # Django's Redis backend has no public way to run a script; its client for the key is the one it uses.
    client = cache._cache.get_client(full_key, write=True)
    if _redis_script is None:
        _redis_script = client.register_script(_REDIS_SCRIPT)
    allowed, frees_at = _redis_script(
        keys=[full_key], args=[repr(now), repr(duration), limit, f"{now!r}:{uuid.uuid4().hex}"], client=client
    )
    return Counted(allowed=bool(allowed), frees_at=float(frees_at))


def _local_count(cache: BaseCache, key: str, *, now: float, duration: float, limit: int) -> Counted:
    # One process's memory: a lock makes the read and the write one step for its threads. The times are
    # kept oldest first, packed (an array of doubles pickles as one block of bytes).
    with _local_lock:
        stored = cache.get(key)
        times = stored if isinstance(stored, array) else array("d")
        del times[: bisect.bisect_right(times, now - duration)]
        if len(times) >= limit:
            return Counted(allowed=False, frees_at=times[len(times) - limit])
        bisect.insort(times, now)  # a clock set back must not unsort them
        cache.set(key, times, duration)
    return Counted(allowed=True)
