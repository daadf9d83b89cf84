"""The features one training run trains on, computed once per image and view (or read from the feature
cache) into memory-mapped files of the run's scratch folder: pooled features of the frozen backbone for
the head, and, when fine-tuning, the feature maps of the backbone's bottom for its top."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from classifier.ml import arrays
from classifier.ml.features import FeatureCache, FeatureKey
from classifier.ml.images import resize_array
from classifier.ml.mirror import mirror_check
from classifier.ml.split import SplitBackbone
from classifier.ml.training.observer import notify
from classifier.ml.training.records import ImageRecord
from classifier.ml.training.state import Run, layer_precision
from classifier.ml.views import MIRRORED, ORIGINAL, view_loader, view_names

if TYPE_CHECKING:
    import keras


@dataclass
class FeatureData:
    """One run's features, in memory-mapped files of its scratch folder."""

    scratch: Path
    # Pooled features of the frozen backbone: (n, views, d) for training, (n, d) for validation.
    train_views: NDArray[np.float32]
    val: NDArray[np.float32]
    # Fine-tuning only: the bottom's feature maps, (n, views, h, w, c) and (n, h, w, c).
    train_maps: NDArray[np.float16] | None = None
    val_maps: NDArray[np.float16] | None = None
    # The views training uses (indices into the views axis): all, or all but the mirror images.
    used_views: list[int] = field(default_factory=lambda: [0])
    # Seconds the backbone's top took per row of maps in inference (fine-tuning only).
    top_seconds_per_row: float = 0.0

    @property
    def train_original(self) -> NDArray[np.float32]:
        return self.train_views[:, 0]


class RunFeatures:
    """Computes (or reads from the cache) every feature a run needs, one batch at a time."""

    def __init__(
        self,
        run: Run,
        extractor: keras.Model,
        split: SplitBackbone | None,
        scratch: Path,
        cache: FeatureCache,
        size: int,
    ) -> None:
        config = run.config
        self.run, self.extractor, self.split, self.scratch, self.cache, self.size = (
            run, extractor, split, scratch, cache, size
        )
        self.views = view_names(
            augment=config.augment, horizontal_flip=config.horizontal_flip, count=config.augment_views
        )
        # An untrained backbone's features depend on the seed that initialised it; features computed in
        # mixed precision differ slightly from float32 ones, so each precision keeps its own.
        self.weights_id = "imagenet" if config.weights == "imagenet" else f"random-seed{config.seed}"
        if layer_precision() != "float32":
            self.weights_id += f"@{layer_precision()}"

    def compute(self, train_images: Sequence[ImageRecord], val_images: Sequence[ImageRecord]) -> FeatureData:
        if self.split is None:
            train_views = self._stacked_views(train_images, self.views, self.extractor, "", "train-pooled")
            val = self._stacked_views(val_images, [ORIGINAL], self.extractor, "", "val-pooled")[:, 0]
            return FeatureData(self.scratch, train_views, val)
        cut = f"@{self.split.cut}"
        bottom = self.split.bottom
        train_maps = self._stacked_views(train_images, self.views, bottom, cut, "train-maps", np.float16)
        val_maps = self._stacked_views(val_images, [ORIGINAL], bottom, cut, "val-maps", np.float16)[:, 0]
        # The frozen top over the cached maps gives the head its pooled features: no second pass
        # over the images.
        flat = train_maps.reshape(-1, *train_maps.shape[2:])
        started = time.monotonic()
        train_views = self.pooled("train-pooled", self.split.top, flat)
        per_row = (time.monotonic() - started) / max(1, len(flat))
        val = self.pooled("val-pooled", self.split.top, val_maps)
        views = train_views.reshape(len(train_images), len(self.views), -1)
        return FeatureData(self.scratch, views, val, train_maps, val_maps, top_seconds_per_row=per_row)

    def pooled(self, name: str, top: keras.Model, maps: NDArray[Any]) -> NDArray[np.float32]:
        """`top`'s pooled features (inference) over cached maps, into a file of the scratch folder."""
        out = arrays.disk_array(self.scratch, name, (len(maps), int(top.output.shape[-1])), np.float32)
        return arrays.map_in_batches(
            out, top.predict_on_batch, maps, self.run.config.batch_size, self.run.observer.on_batch_end
        )

    def _stacked_views(
        self,
        records: Sequence[ImageRecord],
        views: list[str],
        model: keras.Model,
        suffix: str,
        name: str,
        dtype: DTypeLike = np.float32,
    ) -> NDArray[Any]:
        """(n, views, …) features of `model` for every view of every record."""
        config = self.run.config
        shape = tuple(int(dim) for dim in model.output.shape[1:])
        out = arrays.disk_array(self.scratch, name, (len(records), len(views), *shape), dtype)
        for position, view in enumerate(views):
            keys = [
                FeatureKey(record.sha256, config.backbone, self.size, self.weights_id, f"{view}{suffix}")
                for record in records
            ]
            loaders = [view_loader(image_loader(record, self.size), view, sha256=record.sha256) for record in records]
            arrays.fill_features(
                out[:, position], model.predict_on_batch, loaders, keys, self.cache, config.batch_size,
                self.run.observer.on_batch_end,
            )
        return out


def views_to_use(run: Run, views: list[str], data: FeatureData, train_y: NDArray[np.int64]) -> list[int]:
    """Every view, unless mirroring was left to training to decide and it changes the pictures' class
    (see `mirror`). Decided from the cached features alone, so a resumed run decides the same."""
    used = list(range(len(views)))
    if run.config.horizontal_flip is not None or MIRRORED not in views:
        return used
    mirror = views.index(MIRRORED)
    check = mirror_check(data.train_views[:, 0], data.train_views[:, mirror], train_y, run.class_count,
                         seed=run.config.seed)
    if check is None:
        return used
    notify(run.observer, "on_note", check.reason())
    return used if check.keep else [view for view in used if view != mirror]


def image_loader(record: ImageRecord, size: int) -> Callable[[], NDArray[np.uint8]]:
    """Loads the record's pixels resized to `size`, when called."""
    return lambda: resize_array(record.load(), size)
