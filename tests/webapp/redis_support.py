"""The Redis the rate-limit tests count in: the configured shared cache, or a database of the local Redis
that CI starts (.ci/run) and nothing else uses."""

import os

import pytest

REDIS_URL = os.environ.get("SIGHTLINE_CACHE_URL") or "redis://127.0.0.1:6379/14"


def redis_or_skip() -> None:
    """Skip the calling test when that Redis does not answer."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.RedisError:
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
