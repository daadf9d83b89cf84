"""The fixed views of a training image whose features are cached: the original, a mirror image, and
shifted, slightly zoomed copies. Each is a pure function of the image and the view's name (only the
mirror view mirrors), so its features can be computed once, cached under that name, and reused by
every epoch and every later version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np

ORIGINAL = "original"
MIRRORED = "mirrored"
# Shifted views are "shifted-1", "shifted-2"…: up to this share of the side, and zoomed in up to 10%.
SHIFT_SHARE = 0.08
ZOOM = 0.10


def view_names(*, augment: bool, horizontal_flip: bool | None, count: int) -> list[str]:
    """The views a training image is seen in: the original first, then a mirror image (unless
    mirroring is off; None, "find out", includes it so training can check it), then shifted copies."""
    if not augment or count <= 1:
        return [ORIGINAL]
    names = [ORIGINAL] + ([MIRRORED] if horizontal_flip is not False else [])
    names += [f"shifted-{index}" for index in range(1, count - len(names) + 1)]
    return names[:count]


def view_of(pixels: np.ndarray, view: str, *, sha256: str) -> np.ndarray:
    """``pixels`` (s, s, 3) uint8 as seen in ``view``, the same every time for the same image."""
    if view == ORIGINAL:
        return pixels
    if view == MIRRORED:
        return pixels[:, ::-1]
    if not view.startswith("shifted-"):
        raise ValueError(f"unknown view {view!r}")
    seed = int.from_bytes(hashlib.sha256(f"{sha256}:{view}".encode()).digest()[:8], "big")
    rng = np.random.default_rng(seed)
    side = pixels.shape[0]
    reach = max(1, int(round(side * SHIFT_SHARE)))
    # Edge padding continues a product photo's plain background instead of inventing black borders.
    padded = np.pad(pixels, ((reach, reach), (reach, reach), (0, 0)), mode="edge")
    crop = max(1, int(round(side * (1 - rng.uniform(0, ZOOM)))))
    shift = rng.integers(-reach, reach + 1, 2)
    if not shift.any():
        shift[rng.integers(0, 2)] = reach
    top = int(np.clip(reach + (side - crop) // 2 + shift[0], 0, padded.shape[0] - crop))
    left = int(np.clip(reach + (side - crop) // 2 + shift[1], 0, padded.shape[1] - crop))
    from classifier.ml.images import resize_array

    return resize_array(padded[top : top + crop, left : left + crop], side)


def view_loader(load: Callable[[], np.ndarray], view: str, *, sha256: str) -> Callable[[], np.ndarray]:
    return lambda: view_of(load(), view, sha256=sha256)
