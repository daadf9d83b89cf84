"""The job kinds the domain registers with the engine: how each one runs, on which queue, and what
follows when it ends.

The engine (this app) knows nothing of datasets or models. ``classifier.jobs`` registers its kinds
when Django starts (``ClassifierConfig.ready``), so web processes, workers and beat all know them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from training_jobs.models import Job


@dataclass
class JobResult:
    """What a kind's ``run`` returns when its work is done."""

    report: dict[str, Any]
    message: str = "Done"
    # Runs inside the transaction that marks the job succeeded, with the job row locked and still
    # this attempt's: write here what may only be true if the job succeeded (a version becoming
    # ready). If it raises, nothing of it is kept and the job fails instead.
    finish: Callable[[Job], object] | None = None


@dataclass(frozen=True)
class JobKind:
    name: str
    queue: str
    # run(job=job, progress=progress) -> JobResult. ``progress`` is a ``ProgressReporter``; it raises
    # ``JobCancelled`` once the job is no longer this worker's to run.
    run: Callable[..., JobResult]
    # Inside the transaction that makes the job terminal, whatever the way (succeeded, failed,
    # cancelled, reaped): rows whose state follows the job's are set here, so they never disagree.
    ended: Callable[[Job], object] | None = None
    # Deletes files the job no longer needs. Called once the job's end has committed, and again
    # when a worker stops work whose job has ended, so it must be safe to call more than once.
    cleanup: Callable[[Job], object] | None = None
    # A job whose worker was lost runs again (from its checkpoint, or from the start without
    # duplicates) instead of failing.
    resumable: bool = True
    # summary(job) -> [{"label", "text", "url"}]: what the job did, in words and links, for its page.
    summary: Callable[[Job], list[dict[str, Any]]] | None = None
    # Whether the report's plain numbers read as counts on the page (files imported, copies made); a
    # kind whose report holds ids and scores says them through its summary instead.
    report_counts: bool = True


_kinds: dict[str, JobKind] = {}
# Periodic repairs the domain adds to the reaper's round: each returns how many rows it fixed.
_reconcilers: list[Callable[[], int]] = []


class UnknownJobKind(LookupError):
    pass


def job_kind_register(kind: JobKind) -> None:
    # Keyed by the plain string a job row stores (a TextChoices member may hash differently).
    _kinds[str(kind.name)] = kind


def job_kind_get(name: str) -> JobKind:
    try:
        return _kinds[str(name)]
    except KeyError:
        raise UnknownJobKind(f"No job kind {name!r} is registered; known: {', '.join(sorted(_kinds))}.") from None


def job_kinds() -> list[JobKind]:
    return list(_kinds.values())


def reconciler_register(reconcile: Callable[[], int]) -> None:
    if reconcile not in _reconcilers:
        _reconcilers.append(reconcile)


def reconcilers() -> list[Callable[[], int]]:
    return list(_reconcilers)
