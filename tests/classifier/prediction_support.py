"""Colours and picture helpers shared by the prediction service tests."""

from tests.factories import image_bytes

RED, GREEN, BLUE, GREY = (255, 0, 0), (0, 255, 0), (0, 0, 255), (128, 128, 128)


def png(color) -> bytes:
    return image_bytes(color=color, fmt="PNG")


def labels_of(rows: list[dict]) -> list[str]:
    return [row["label"] for row in rows]
