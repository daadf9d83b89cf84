"""Template filters the pages share: durations as people say them."""

from datetime import datetime

from django import template

register = template.Library()


def duration_text(seconds: float | None) -> str:
    """42 → "42 s", 185 → "3 min 5 s", 3900 → "1 h 5 min": Django's ``timesince`` says "0 minutes" for
    anything under one, which is most jobs here."""
    if seconds is None:
        return "—"
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


@register.filter
def took(start: datetime | None, end: datetime | None) -> str:
    """``{{ job.started_at|took:job.finished_at }}``: the time between two moments, or "—"."""
    if start is None or end is None:
        return "—"
    return duration_text((end - start).total_seconds())

