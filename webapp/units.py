"""Quantities as people read them in messages."""


def human_bytes(size: int) -> str:
    """``1536`` → ``"1.5 KB"``."""
    if size < 1024:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KB", "MB", "GB"):
        value /= 1024
        if value < 1024 or unit == "GB":
            break
    return f"{value:.1f} {unit}"
