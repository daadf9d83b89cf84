"""Small pieces every page view shares: fractions shown as percentages."""


def percent(fraction: float | None) -> float | None:
    """0.9342 → 93.42 for a template's floatformat; None (a version without test images) stays None."""
    return None if fraction is None else fraction * 100
