"""What archive imports and URL-list imports share in their reports: which pictures an earlier attempt of
the job stored (a resumed job counts them as imported, not as duplicates), and the sentence an import
that stored nothing fails with."""

import hashlib
from typing import Any

from training_jobs.models import Job


def stored_by_earlier_attempts(job: Job) -> set[str]:
    """The content hashes of the images earlier attempts of this job stored (none on a first attempt)."""
    return set(job.created_images.values_list("sha256", flat=True)) if job.attempts > 1 else set()


def stored_earlier(stored_before: set[str], content: bytes) -> bool:
    """Whether an earlier attempt stored this picture; it is then counted once: a later copy of it in the same
    import is a duplicate."""
    if not stored_before:
        return False
    digest = hashlib.sha256(content).hexdigest()
    if digest not in stored_before:
        return False
    stored_before.discard(digest)
    return True


def nothing_imported(report: dict[str, Any], *, reasons: tuple[str, ...], noun: str, already: str) -> str:
    """Why an import stored nothing, in one sentence: ``noun`` names what it read ("files", "URLs") and
    ``already`` what they all were when every one was a duplicate."""
    counts = [f"{count} {reason.replace('_', ' ')}" for reason in reasons if (count := report.get(reason))]
    if counts == [f"{report.get('duplicate')} duplicate"]:
        return f"Nothing was imported: all {report['total']} {already} already in this dataset."
    return f"Nothing was imported: every {noun} was refused ({', '.join(counts)}). The report lists each one."
