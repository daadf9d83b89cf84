"""The production web tier's size, from the environment: read by webapp/gunicorn.conf.py, which runs it,
and by the settings whose defaults follow from it (URL fetches a host's web processes make at once)."""

import os

from webapp.env import env_int, env_str


def web_workers() -> int:
    """Web processes: one per core and one more (docs/serving.md, "The server")."""
    return env_int("SIGHTLINE_WEB_WORKERS", (os.cpu_count() or 1) + 1)


def web_threads() -> int:
    """Requests one web process answers at once: 1 (gunicorn's sync worker); more makes it a threaded worker."""
    return env_int("SIGHTLINE_WEB_THREADS", 1)


def web_worker_class() -> str:
    """gunicorn's worker class: ``sync`` for one thread, else ``gthread`` (which gunicorn runs whenever
    threads > 1, whatever the class says)."""
    return env_str("SIGHTLINE_WEB_WORKER_CLASS", "sync" if web_threads() == 1 else "gthread")
