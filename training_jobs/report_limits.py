"""Bounded job reports: a report keeps its counts and at most a few listed rows, so a job whose labels
CSV names 200,000 missing files stays a small row and a small response. Every row still reaches the
user: the full lists go to a CSV stored beside the job (``Job.report_file``).

Pure functions: nothing here touches the database or storage.
"""

import csv
import io
from typing import Any

# The report key saying which lists were cut: {name: {"listed": n, "total": m}}.
TRUNCATED_KEY = "truncated"
# The CSV's first column names the list a row came from ("rejected", …).
LIST_COLUMN = "list"


# The longest text a listed row keeps in the report. Names come from uploads: a ZIP member's may be 64 KB,
# so 100 rows of them would make a 13 MB report. The CSV keeps them whole.
MAX_TEXT_CHARACTERS = 1000


def report_bound(report: dict[str, Any], *, max_rows: int) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """``(bounded report, full lists that were cut)``.

    Each top-level list longer than ``max_rows`` keeps its first ``max_rows`` rows, and text in its rows
    longer than ``MAX_TEXT_CHARACTERS`` is shortened; such a list is named under ``truncated`` with how
    many rows it lists and had. Counts and other values are left as they are. A report with nothing to
    cut comes back unchanged (and no lists).
    """
    if max_rows < 0:
        raise ValueError(f"max_rows must not be negative, got {max_rows}")
    cut = {
        name: rows
        for name, rows in report.items()
        if isinstance(rows, list) and (len(rows) > max_rows or any(_row_shortened(row) != row for row in rows))
    }
    if not cut:
        return report, {}
    bounded = {
        name: ([_row_shortened(row) for row in rows[:max_rows]] if name in cut else rows)
        for name, rows in report.items()
    }
    truncated = dict(bounded.get(TRUNCATED_KEY) or {})
    truncated.update({name: {"listed": min(max_rows, len(rows)), "total": len(rows)} for name, rows in cut.items()})
    bounded[TRUNCATED_KEY] = truncated
    return bounded, cut


def _row_shortened(row: Any) -> Any:
    if isinstance(row, dict):
        return {key: _text_shortened(value) for key, value in row.items()}
    return _text_shortened(row)


def _text_shortened(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_TEXT_CHARACTERS:
        return value[: MAX_TEXT_CHARACTERS - 1] + "…"
    return value


def report_csv(lists: dict[str, list[Any]]) -> bytes:
    """The rows of ``lists`` as one CSV: a ``list`` column, then every key the rows have (a row that is
    not a mapping goes under ``value``), in the order they first appear."""
    columns: dict[str, None] = {}
    for rows in lists.values():
        for row in rows:
            for key in row if isinstance(row, dict) else ["value"]:
                columns.setdefault(str(key), None)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[LIST_COLUMN, *columns], extrasaction="ignore")
    writer.writeheader()
    for name, rows in lists.items():
        for row in rows:
            values = row if isinstance(row, dict) else {"value": row}
            writer.writerow({LIST_COLUMN: name, **{str(key): _cell(value) for key, value in values.items()}})
    return buffer.getvalue().encode()


def _cell(value: Any) -> Any:
    text = str(value) if not isinstance(value, int | float) else value
    # A cell starting with = + - @ is run as a formula by spreadsheets (CSV injection); a leading
    # apostrophe makes it text. File names come from uploaded archives, so they may be hostile.
    if isinstance(text, str) and text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text
