"""A job's heartbeat from a thread of its worker, so a long healthy step (feature extraction of a big
set, an export, a detector fit) never looks like a lost worker, whatever the work itself is doing.

The work's own progress reports stay where cancellation is acted on; the heartbeat only notices that
the job is no longer this attempt's and raises the flag the progress reporter checks.
"""

import logging
import threading

from django.db import DatabaseError, connection
from django.utils import timezone

from training_jobs.models import Job

logger = logging.getLogger(__name__)


class Heartbeat:
    def __init__(self, job_id: int, *, attempt: int, interval: float) -> None:
        self.job_id = job_id
        self.attempt = attempt
        self.interval = interval
        # Set once an update finds the job no longer running as this attempt.
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "Heartbeat":
        # The thread writes on its own database connection; inside an open transaction (a test, an
        # inline task) that connection could not see the job row and would report it lost.
        if self.interval > 0 and not connection.in_atomic_block:
            self._thread = threading.Thread(target=self._beat, name=f"job-{self.job_id}-heartbeat", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(5.0, self.interval * 2))

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    alive = Job.objects.filter(
                        id=self.job_id, status=Job.Status.RUNNING, attempts=self.attempt
                    ).update(heartbeat_at=timezone.now())
                except DatabaseError:
                    # A database hiccup: the next beat tries again; the reaper tolerates a few misses.
                    logger.warning("Heartbeat of job %s could not be written.", self.job_id, exc_info=True)
                    continue
                if not alive:
                    self.lost = True
                    return
        finally:
            connection.close()
