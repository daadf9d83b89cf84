"""How a job's report reads on a page: its counts and its rejected files, for the job page and the
dataset page's upload result (uploads report in the same shape as imports)."""

from typing import Any


def report_sections(report: dict[str, Any]) -> tuple[list[tuple[str, int | float]], list[dict[str, Any]]]:
    """Split a report into its counts, as (readable name, number) pairs, and the rejected files.

    Counts may sit under ``counts`` or at the top level; any plain number there is shown, so a new
    outcome renders without a template change.
    """
    nested = report.get("counts")
    counts_source = nested if isinstance(nested, dict) else report
    counts = [
        (_readable(name), value)
        for name, value in counts_source.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]
    rejected = report.get("rejected")
    rows = rejected if isinstance(rejected, list) else []
    return counts, [{**row, "reason": _readable(str(row.get("reason", "")))} for row in rows]


def report_truncated(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's lists that were cut (``report_limits``), as [{"name", "listed", "total"}] to say so."""
    truncated = report.get("truncated")
    if not isinstance(truncated, dict):
        return []
    return [
        {"name": _readable(str(name)).lower(), "listed": entry.get("listed"), "total": entry.get("total")}
        for name, entry in truncated.items()
        if isinstance(entry, dict)
    ]


def _readable(code: str) -> str:
    """``not_image`` → ``Not image``: report codes as people read them."""
    return code.replace("_", " ").capitalize()
