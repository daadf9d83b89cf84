"""Does a mirror image still show the same class? Training finds out instead of asking the user.

Mirroring is the cheapest augmentation and right for most photos, but wrong where it changes the
meaning: digits, letters, left/right arrows. A linear model fitted on the original views' cached
features of half the training images is tried on the other half, as they are and mirrored. If it
recognises the mirrored pictures less often than the unseen originals, by more than chance explains,
mirroring moves them away from their class, and training leaves the mirror views out. Closed-form ridge regression in
numpy on a sample: well under a second, and the same answer every time for the same data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

# Images the check fits on and tries, at most; fewer tried than MIN_CHECKED and it keeps the mirrors.
MAX_FIT = 4000
MAX_CHECKED = 2000
MIN_CHECKED = 20
# Mirroring counts as changing the pictures' meaning when mirrored ones are recognised at least this
# much less often (a share of them), and the difference is no accident: McNemar's statistic over the
# pictures recognised one way but not the other at least SIGNIFICANCE. ImageNet features barely tell
# a picture from its mirror image, so a real difference shows as a few points, not tens.
MIN_EFFECT = 0.015
SIGNIFICANCE = 2.0
# Ridge strength, per training row, on standardised features.
RIDGE = 0.1


@dataclass(frozen=True)
class MirrorCheck:
    keep: bool
    original_accuracy: float
    mirrored_accuracy: float
    checked: int

    def reason(self) -> str:
        found = (
            f"a first model recognised {100 * self.mirrored_accuracy:.0f}% of {self.checked} training pictures "
            f"mirrored against {100 * self.original_accuracy:.0f}% as they are"
        )
        if self.keep:
            return f"Mirror images kept: {found}."
        return f"Mirror images left out: {found}, so mirroring changes what these pictures show."


def mirror_check(
    original: np.ndarray, mirrored: np.ndarray, labels: np.ndarray, class_count: int, *, seed: int = 0
) -> MirrorCheck | None:
    """Compare how a model of the originals recognises unseen originals and their mirror images.

    ``original`` and ``mirrored`` are (n, d) pooled features of the same images (memory maps are
    fine: only the sampled rows are read). None when there are too few images to tell.
    """
    count = len(labels)
    checked_count = min(MAX_CHECKED, count // 2)
    if checked_count < MIN_CHECKED:
        return None
    order = np.random.default_rng(seed).permutation(count)
    checked = np.sort(order[:checked_count])
    fitted = np.sort(order[checked_count : checked_count + MAX_FIT])
    features = np.asarray(original[fitted], dtype=np.float64)
    mean = features.mean(axis=0)
    scale = features.std(axis=0) + 1e-6
    features = (features - mean) / scale
    targets = np.eye(class_count)[labels[fitted]]
    gram = features.T @ features + RIDGE * len(fitted) * np.eye(features.shape[1])
    weights = np.linalg.solve(gram, features.T @ (targets - targets.mean(axis=0)))

    def recognised(rows: np.ndarray) -> NDArray[np.bool_]:
        scores = ((np.asarray(rows, dtype=np.float64) - mean) / scale) @ weights
        right: NDArray[np.bool_] = scores.argmax(axis=1) == labels[checked]
        return right

    as_they_are, mirror = recognised(original[checked]), recognised(mirrored[checked])
    only_as_they_are = int((as_they_are & ~mirror).sum())
    only_mirrored = int((mirror & ~as_they_are).sum())
    disagreements = only_as_they_are + only_mirrored
    statistic = (only_as_they_are - only_mirrored) / math.sqrt(disagreements) if disagreements else 0.0
    drop = float(as_they_are.mean() - mirror.mean())
    return MirrorCheck(
        keep=not (statistic >= SIGNIFICANCE and drop >= MIN_EFFECT),
        original_accuracy=float(as_they_are.mean()),
        mirrored_accuracy=float(mirror.mean()),
        checked=checked_count,
    )
