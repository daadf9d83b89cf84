"""Storing a file under a name no other file can hold, now or while the caller works on something else.

A prediction answered now keeps its image for the history under a name made of a random UUID. The
storage API's ``save()`` first looks for a free name; on S3 that is a HEAD request, a round trip to the
bucket (2.7 ms to moto on loopback, more to a bucket over a network), spent on a name nobody else can
hold. ``stored_file_put`` skips it.

Nor does the model need the file: ``BackgroundWrite`` stores it on a writer thread while the request runs
the interpreter (the upload to a bucket and the interpreter both let go of the GIL while they wait or
compute), and the caller waits for it only before writing the row that names the file, so no row ever
names a file that is not stored. Local files are written at once on the request's own thread.
"""

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from django.conf import DEFAULT_STORAGE_ALIAS
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage, storages
from django.core.files.utils import validate_file_name

from webapp.storage import stored_files_delete
from webapp.web_tier import web_threads

logger = logging.getLogger(__name__)

# Writer threads per process: one for each request a web process answers at once (SIGHTLINE_WEB_THREADS),
# and a few for the development server's threads. They start when first needed and idle ones are kept.
# They share the storage's boto3 client (thread-safe) and its pool of connections to the bucket.
MIN_WRITER_THREADS = 4


def stored_file_put(*, name: str, content: bytes) -> str:
    """Store ``content`` under ``name``, a name no other file holds (a random UUID in it), without the
    storage API's search for a free one. Returns the stored name, as ``save()`` does.

    Only for names made new by their caller: on S3 an object already under ``name`` is overwritten."""
    validate_file_name(name, allow_relative_path=True)
    # Storage._save is the documented hook storages implement; save() is get_available_name() then it.
    # FileSystemStorage's still never overwrites (it creates the file exclusively and picks another name
    # if one exists); S3's would, for a name that a UUID makes unique.
    stored: str = default_storage._save(name, ContentFile(content))  # type: ignore[attr-defined]  # not in the stubs
    validate_file_name(stored, allow_relative_path=True)
    return stored


class _Writers:
    """The process's writer threads, started on first use in each process: threads do not survive a fork,
    and gunicorn and Celery fork their workers after importing the project."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def submit(self, work: Callable[[], str]) -> "Future[str]":
        with self._lock:
            if self._pool is None:
                writers = max(MIN_WRITER_THREADS, web_threads())
                self._pool = ThreadPoolExecutor(max_workers=writers, thread_name_prefix="sightline-store")
            return self._pool.submit(work)


_writers = _Writers()
# A child starts with no pool (the parent's threads are not in it) and a free lock (one held by another
# thread at the fork would stay held forever).
os.register_at_fork(after_in_child=_writers.reset)


class BackgroundWrite:
    """``stored_file_put`` run on a writer thread from now on; on local files, run now on this thread."""

    def __init__(self, *, name: str, content: bytes) -> None:
        if isinstance(storages[DEFAULT_STORAGE_ALIAS], FileSystemStorage):
            # A local file is written in ~0.05 ms, less than handing it to a thread and back costs in CPU.
            self._future: Future[str] = Future()
            try:
                self._future.set_result(stored_file_put(name=name, content=content))
            except Exception as error:  # noqa: BLE001 - kept for stored_name(), as the thread's would be
                self._future.set_exception(error)
        else:
            self._future = _writers.submit(lambda: stored_file_put(name=name, content=content))

    def stored_name(self) -> str:
        """Wait for the write to end: the stored name, or the write's error raised here."""
        return self._future.result()

    def discard(self) -> None:
        """The work the file was for failed: wait for the write to end and delete what it stored, so nothing
        is left behind (a failed write stored nothing). Never raises: the caller is already failing, and
        the orphan sweep deletes a file this could not."""
        try:
            name = self._future.result()
        except Exception:  # noqa: BLE001 - the write failed, so there is nothing to delete
            return
        try:
            stored_files_delete(names=[name])
        except Exception:
            logger.exception("Could not delete %s, stored for a prediction that failed; the orphan sweep will.", name)
