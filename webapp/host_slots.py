"""A bound shared by every web process of a host: at most N of them do something slow at once.

Why: the web tier runs one request at a time per process (gunicorn's sync workers, webapp/gunicorn.conf.py),
so a count kept inside one process cannot bound anything; a slow job (fetching an image URL for an answer
a client waits for) must leave most processes free to answer everyone else.

A slot is an exclusive ``flock`` on one of N files in ``SIGHTLINE_LOCK_DIR``. The kernel gives it back when
its holder closes the file or dies, so a worker killed in the middle (gunicorn's timeout, the OOM killer)
cannot keep a slot. Locks taken by two threads of one process through two ``open`` calls exclude each
other too, so the bound holds for threaded workers as well.
"""

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

_NAME = re.compile(r"[a-z][a-z0-9-]{0,40}")


@contextmanager
def host_slot(name: str, count: int) -> Iterator[bool]:
    """Yields True holding one of ``count`` slots called ``name``, or False when all are held elsewhere."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"a slot name is lower-case letters, digits and dashes; got {name!r}")
    directory = Path(settings.SIGHTLINE_LOCK_DIR)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for index in range(max(0, count)):
        descriptor = os.open(directory / f"{name}-{index}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            continue
        except BaseException:
            os.close(descriptor)
            raise
        try:
            yield True
        finally:
            # Closing the file releases the lock.
            os.close(descriptor)
        return
    yield False
