"""The reaper: beat runs it every ``SIGHTLINE_REAPER_INTERVAL_SECONDS`` so nothing stays non-terminal.

- A running job whose heartbeat stopped lost its worker (SIGKILL, out of memory, machine gone): it is
  queued again as its next attempt and resumes from its checkpoint, or fails after
  ``SIGHTLINE_JOB_MAX_ATTEMPTS`` lost workers, with that reason, instead of requeueing forever.
- A queued job whose task never reached the broker, or that no worker took for a long time, is sent
  again (a duplicate delivery is harmless: only one can claim it).
- Each reconciler the domain registered repairs rows that disagree with their job.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from training_jobs.kinds import UnknownJobKind, job_kind_get, reconcilers
from training_jobs.models import Job
from training_jobs.services import job_fail, job_resume, job_send, max_attempts, stale_cutoff

logger = logging.getLogger(__name__)

# A job just created is sent by its request's on_commit; give that a moment before sending it again.
SEND_GRACE = timedelta(seconds=10)


def jobs_reap(*, older_than: timedelta | None = None) -> dict[str, int]:
    """One round of the reaper; returns what it did, by action."""
    now = timezone.now()
    counts = {"resumed": 0, "failed": 0, "sent": 0, "repaired": 0}
    cutoff = stale_cutoff(now=now, older_than=older_than)
    resumed = []
    for job in Job.objects.filter(status=Job.Status.RUNNING, heartbeat_at__lt=cutoff):
        action = _reap_lost(job, cutoff, now)
        if action:
            counts[action] += 1
        if action == "resumed":
            resumed.append(job.id)

    resend_before = now - timedelta(seconds=settings.SIGHTLINE_JOB_RESEND_SECONDS)
    unsent = Q(enqueued_at__isnull=True, created_at__lt=now - SEND_GRACE) | Q(enqueued_at__lt=resend_before)
    # A job resumed above was sent as it was queued again.
    waiting = Job.objects.filter(unsent, status=Job.Status.QUEUED).exclude(id__in=resumed)
    for job_id in waiting.values_list("id", flat=True):
        counts["sent"] += job_send(job_id=job_id)

    for reconcile in reconcilers():
        try:
            counts["repaired"] += reconcile()
        except Exception:
            # One broken repair must not stop the others, nor the next round.
            logger.exception("Reconciler %s failed.", getattr(reconcile, "__name__", reconcile))
    if any(counts.values()):
        logger.info("Reaper: %s", counts)
    return counts


def _reap_lost(job: Job, cutoff: datetime, now: datetime) -> str:
    """Resume or fail one lost job; returns the action taken, or "" if the job moved on meanwhile."""
    # Selected by ``heartbeat_at__lt``, so never null here.
    assert job.heartbeat_at is not None
    silent = int((now - job.heartbeat_at).total_seconds())
    still_lost = Q(heartbeat_at__lt=cutoff, attempts=job.attempts)
    try:
        resumable = job_kind_get(job.kind).resumable
    except UnknownJobKind:
        resumable = False
    if resumable and job.attempts < max_attempts():
        message = (
            f"The worker running this job was lost (no heartbeat for {silent} s); resuming where it left off "
            f"(attempt {job.attempts + 1} of {max_attempts()})"
        )
        return "resumed" if job_resume(job_id=job.id, where=still_lost, message=message) else ""
    lost = f"lost {job.attempts} times" if job.attempts > 1 else "lost"
    error = (
        f"The worker running this job was {lost} (last: no heartbeat for {silent} s), for example because it ran "
        "out of memory or its machine went down; the job was stopped."
    )
    return "failed" if job_fail(job_id=job.id, error=error, attempt=job.attempts) else ""
