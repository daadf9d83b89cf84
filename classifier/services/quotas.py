"""Quotas per account: what one account may store and start, so one stranger cannot fill the storage or
hold the training worker.

Limits come from settings (``SIGHTLINE_QUOTA_*``), replaced field by field by the account's ``AccountQuota``;
0 means no limit, and staff have none. A refusal raises ``QuotaExceeded``: a ``ValidationError``, so every
page form shows its sentence where the user acted, and a 429 in the API with the quota's name and what is
used and allowed (``webapp.api``). A check that guards a write runs in the writing transaction with the
account's row locked, so two requests at once cannot both take the last place.
"""

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from classifier.models import AccountQuota, DatasetImage, TrainingUsage
from training_jobs.kinds import job_kinds
from training_jobs.models import Job
from training_jobs.services import ACTIVE_STATUSES
from webapp.units import human_bytes

# Each quota's name (also its AccountQuota field) and the setting that holds its default.
QUOTA_SETTINGS = {
    "images": "SIGHTLINE_QUOTA_IMAGES",
    "storage_bytes": "SIGHTLINE_QUOTA_BYTES",
    "active_jobs": "SIGHTLINE_QUOTA_ACTIVE_JOBS",
    "active_gpu_jobs": "SIGHTLINE_QUOTA_ACTIVE_GPU_JOBS",
    "training_minutes": "SIGHTLINE_QUOTA_TRAINING_MINUTES_PER_DAY",
}
TRAINING_WINDOW = timedelta(hours=24)


class QuotaExceeded(ValidationError):
    """A request over one of its account's quotas: ``quota`` names it, ``used`` and ``allowed`` say where
    the account stands, and the message says so and what to do."""

    def __init__(self, *, quota: str, used: float, allowed: int, message: str) -> None:
        super().__init__(message, code="quota_exceeded")
        self.quota = quota
        self.used = used
        self.allowed = allowed


def account_limits(user: User) -> dict[str, int | None]:
    """Each quota's limit for this account; None where it has none (staff, or a limit of 0)."""
    if user.is_staff:
        return dict.fromkeys(QUOTA_SETTINGS)
    own = AccountQuota.objects.filter(user_id=user.pk).first()
    limits: dict[str, int | None] = {}
    for name, setting in QUOTA_SETTINGS.items():
        value = getattr(own, name, None)
        limits[name] = (getattr(settings, setting) if value is None else value) or None
    return limits


def account_usage(*, user: User) -> dict[str, dict[str, Any]]:
    """``{quota: {"used", "allowed"}}`` for every quota; ``allowed`` is None where there is no limit."""
    limits = account_limits(user)
    stored = _stored(user.pk)
    jobs = _active_jobs(user.pk)
    used = {**stored, **jobs, "training_minutes": round(training_minutes_used(user_id=user.pk), 1)}
    return {name: {"used": used[name], "allowed": limits[name]} for name in QUOTA_SETTINGS}


def training_minutes_used(*, user_id: int, now: datetime | None = None) -> float:
    """Training minutes of the account's trainings of the last 24 hours: a training queued or running
    counts its whole budget, an ended one the minutes it ran (at most its budget)."""
    since = (now or timezone.now()) - TRAINING_WINDOW
    usages = TrainingUsage.objects.filter(user_id=user_id, created_at__gte=since).select_related("job")
    return sum(_usage_minutes(usage) for usage in usages)


def _usage_minutes(usage: TrainingUsage) -> float:
    job = usage.job
    if job is None:
        return usage.budget_minutes if usage.minutes is None else usage.minutes
    if not job.is_finished:
        return usage.budget_minutes
    if job.started_at is None or job.finished_at is None:
        return 0.0
    return min(usage.budget_minutes, (job.finished_at - job.started_at).total_seconds() / 60)


def _stored(user_id: int) -> dict[str, int]:
    totals = DatasetImage.objects.filter(dataset__owner_id=user_id).aggregate(
        images=Count("id"), storage_bytes=Coalesce(Sum("stored_bytes"), 0)
    )
    return {"images": totals["images"], "storage_bytes": totals["storage_bytes"]}


def _gpu_kinds() -> list[str]:
    # The kinds that wait for the training worker (trainings, label-issue searches). Batch predictions and
    # scoring run on the inference queue, several at once: they count against active_jobs only.
    return [kind.name for kind in job_kinds() if kind.queue == "gpu"]


def _active_jobs(user_id: int) -> dict[str, int]:
    return Job.objects.filter(requested_by_id=user_id, status__in=ACTIVE_STATUSES).aggregate(
        active_jobs=Count("id"), active_gpu_jobs=Count("id", filter=Q(kind__in=_gpu_kinds()))
    )


def _account(user_id: int, *, lock: bool) -> User:
    users = get_user_model().objects
    return (users.select_for_update() if lock else users).get(pk=user_id)


def storage_quota_check(*, owner_id: int, adding_bytes: int, lock: bool = False) -> None:
    """Refuse one more image of ``adding_bytes`` in this account's datasets when it would pass the account's
    images or storage quota. ``lock``: in the transaction that stores the image, so check and write are one."""
    limits = account_limits(_account(owner_id, lock=lock))
    if limits["images"] is None and limits["storage_bytes"] is None:
        return
    stored = _stored(owner_id)
    images, allowed = stored["images"], limits["images"]
    if allowed is not None and images + 1 > allowed:
        raise QuotaExceeded(
            quota="images",
            used=images,
            allowed=allowed,
            message=f"Image quota reached: your datasets hold {images:,} images of the {allowed:,} your account "
            "may store. Delete some images to add more.",
        )
    used, allowed = stored["storage_bytes"], limits["storage_bytes"]
    if allowed is not None and used + adding_bytes > allowed:
        raise QuotaExceeded(
            quota="storage_bytes",
            used=used,
            allowed=allowed,
            message=f"Storage quota reached: your images take {human_bytes(used)} of the {human_bytes(allowed)} "
            f"your account may store, and this one needs {human_bytes(adding_bytes)} more. Delete some images "
            "to add more.",
        )


def job_quota_check(*, user: User, kind: str, budget_minutes: float | None = None) -> None:
    """Refuse a new job of ``kind`` when the account already has as many queued or running as it may (of
    any kind, and of the training worker's kinds), or a training whose ``budget_minutes`` would pass its
    training minutes in 24 hours.

    Call it in the transaction that creates the job: the account's row stays locked until that commits,
    so two requests at once cannot both take the last place."""
    limits = account_limits(_account(user.pk, lock=True))
    jobs = _active_jobs(user.pk)
    used, allowed = jobs["active_gpu_jobs"], limits["active_gpu_jobs"]
    if kind in _gpu_kinds() and allowed is not None and used >= allowed:
        raise QuotaExceeded(
            quota="active_gpu_jobs",
            used=used,
            allowed=allowed,
            message=f"You already have {_training_worker_jobs(used)} queued or running, as many as your account "
            f"may have at once ({allowed}): the training worker is shared, so each account waits for its own. "
            "Start this one when that has finished, or cancel it.",
        )
    used, allowed = jobs["active_jobs"], limits["active_jobs"]
    if allowed is not None and used >= allowed:
        raise QuotaExceeded(
            quota="active_jobs",
            used=used,
            allowed=allowed,
            message=f"You already have {used} jobs queued or running, as many as your account may have at once "
            f"({allowed}). Start this one when one of them has finished, or cancel one.",
        )
    allowed = limits["training_minutes"]
    if budget_minutes is not None and allowed is not None:
        _training_minutes_check(user_id=user.pk, budget_minutes=budget_minutes, allowed=allowed)


def _training_worker_jobs(count: int) -> str:
    return "1 job for the training worker" if count == 1 else f"{count} jobs for the training worker"


def _training_minutes_check(*, user_id: int, budget_minutes: float, allowed: int) -> None:
    used = round(training_minutes_used(user_id=user_id), 1)
    if used + budget_minutes <= allowed:
        return
    left = max(0.0, allowed - used)
    wait = "wait until earlier trainings are more than 24 hours old"
    if left < 1:
        advice = f"{wait.capitalize()}."
    elif used:
        advice = f"Choose a budget of at most {left:g} minutes, or {wait}."
    else:
        advice = f"Choose a budget of at most {left:g} minutes."
    raise QuotaExceeded(
        quota="training_minutes",
        used=used,
        allowed=allowed,
        message=f"Training quota reached: your trainings of the last 24 hours use {used:g} of the {allowed} "
        "minutes your account has a day (one waiting or running counts its whole budget), and this one's "
        f"budget is {budget_minutes:g} minutes. {advice}",
    )


def training_usage_record(*, job: Job, budget_minutes: float) -> TrainingUsage:
    """Count a new training's budget against its account's training minutes."""
    return TrainingUsage.objects.create(user_id=job.requested_by_id, job=job, budget_minutes=budget_minutes)


def training_usage_settle(*, jobs: Any) -> None:
    """Write down the minutes these jobs' trainings ran, before the jobs are deleted with their version or
    dataset: the minutes still count, so deleting a version does not give them back. Cancel the jobs first."""
    for usage in TrainingUsage.objects.filter(job__in=jobs, minutes__isnull=True).select_related("job"):
        TrainingUsage.objects.filter(id=usage.id).update(minutes=_usage_minutes(usage))
