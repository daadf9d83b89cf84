"""Turn a time budget and a dataset into a training recipe, so that a user who asks for nothing gets a
good model in the time they chose.

The plan decides what the user did not: the input size (from the images' own size: upscaling 28 px
pictures to 224 px costs 5× the time for no gain), how much of the backbone to fine-tune (its top
half, on cached features: see ``split``), the views of each image, the epochs and the optimiser
settings. Every choice comes with its reason, for the version page. Options the user gave are kept as
given. During training, ``train`` measures the real epoch time and shortens the fine-tuning to fit what
is left of the budget (``TrainingConfig`` holds the plan's upper bound).

The recipe's figures come from runs on this 2-core machine (6,000 28 px product photos, 10 classes,
EfficientNet-Lite0): frozen features alone reach 85–86.5% at any input size; fine-tuning the top half at
96 px reaches 90.4% in 3 epochs and 92.4% in 5.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from classifier.ml.backbone_registry import BackboneSpec

PRESETS = {"quick": 2.0, "standard": 10.0, "best": 60.0}
DEFAULT_BUDGET_MINUTES = PRESETS["standard"]

# Pictures this small (their longer side, median over the training split) are trained at a few times
# their size, not at the backbone's full resolution.
SMALL_IMAGE_SIDE = 64
# Share of the budget kept for what follows training: test evaluation, calibration, the detector and
# the exports (Keras, TFLite, SavedModel), with a floor for the conversions' fixed cost.
RESERVE_SHARE = 0.12
RESERVE_MIN_SECONDS = 25.0
# Fine-tuning epochs at most, by budget: enough for the cosine schedule to settle, no more.
FINE_TUNE_EPOCH_CAPS = ((3.0, 3), (15.0, 8), (float("inf"), 16))
FINE_TUNE_TOP_FRACTION = 0.5
FINE_TUNE_PEAK_RATE = 2e-3
WEIGHT_DECAY = 0.05
LABEL_SMOOTHING = 0.1


@dataclass(frozen=True)
class DataSummary:
    train_count: int
    val_count: int
    test_count: int
    class_count: int
    # Median of each training image's longer side, in pixels.
    median_side: int


@dataclass
class TrainingPlan:
    budget_minutes: float
    # The TrainingConfig values the plan chose (the user's own options are not in here).
    chosen: dict[str, Any]
    reasons: list[str] = field(default_factory=list)
    # Seconds kept after training for evaluation and exports.
    reserve_seconds: float = 0.0

    @property
    def budget_seconds(self) -> float:
        return self.budget_minutes * 60.0

    @property
    def training_seconds(self) -> float:
        return max(0.0, self.budget_seconds - self.reserve_seconds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "budget_minutes": self.budget_minutes,
            "chosen": self.chosen,
            "reasons": self.reasons,
            "reserve_seconds": round(self.reserve_seconds, 1),
            "training_seconds": round(self.training_seconds, 1),
        }


def budget_minutes_resolve(value: Any, *, maximum: float) -> float:
    """A preset name or a number of minutes, checked; raises ValueError naming the range."""
    if value is None:
        return DEFAULT_BUDGET_MINUTES
    if isinstance(value, str) and value.strip().lower() in PRESETS:
        return PRESETS[value.strip().lower()]
    try:
        minutes = float(value)
    except (TypeError, ValueError):
        minutes = float("nan")
    if isinstance(value, bool) or not (0 < minutes <= maximum):
        names = ", ".join(f"{name} ({int(m)})" for name, m in PRESETS.items())
        raise ValueError(
            f"budget_minutes must be a number of minutes above 0 and at most {maximum:g}, or one of {names}; "
            f"got {value!r}"
        )
    return minutes


def plan_training(
    *, given: dict[str, Any], spec: BackboneSpec, data: DataSummary, budget_minutes: float
) -> TrainingPlan:
    """The values of every training option the user did not give (``given``), and why."""
    plan = TrainingPlan(budget_minutes=budget_minutes, chosen={})
    seconds = budget_minutes * 60.0
    plan.reserve_seconds = max(RESERVE_MIN_SECONDS, RESERVE_SHARE * seconds)

    def choose(name: str, value: Any, reason: str | None = None) -> None:
        if name in given:
            return
        plan.chosen[name] = value
        if reason:
            plan.reasons.append(reason)

    size = _input_size(spec, data.median_side, budget_minutes)
    if size == spec.default_input_size:
        reason = f"Images are {data.median_side} px (median): trained at {spec.label}'s own {size} px."
    else:
        reason = (
            f"Images are {data.median_side} px (median): trained at {size} px, not {spec.default_input_size} px, "
            f"which would cost about {(spec.default_input_size / size) ** 2:.0f}× the time for little gain."
        )
    choose("image_size", size, reason)
    choose("batch_size", 64 if data.train_count >= 640 else 32 if data.train_count >= 160 else 16)
    # The head is only fine-tuning's starting point: a few epochs suffice when time is short.
    choose("epochs", 8 if budget_minutes < 5 else 20)
    choose("label_smoothing", LABEL_SMOOTHING)
    cap = next(epochs for limit, epochs in FINE_TUNE_EPOCH_CAPS if budget_minutes <= limit)
    if given.get("fine_tune_layers") == 0:
        choose("fine_tune_fraction", 0.0, "No fine-tuning, as asked: the head on the frozen backbone only.")
        choose("fine_tune_epochs", 0)
    elif budget_minutes < 1.0:
        choose("fine_tune_epochs", 0, f"A {budget_minutes:g}-minute budget leaves no time to fine-tune: head only.")
        choose("fine_tune_fraction", 0.0)
    else:
        choose(
            "fine_tune_fraction",
            FINE_TUNE_TOP_FRACTION,
            f"Fine-tunes the top half of {spec.label} on cached features of its bottom half: faster, and on "
            "small datasets more accurate, than fine-tuning all of it.",
        )
        choose(
            "fine_tune_epochs",
            cap,
            f"Budget {budget_minutes:g} min: up to {cap} fine-tuning epochs (warm-up, then cosine decay), fewer "
            "if the first epoch shows they would not fit; training stops at the budget with the best weights.",
        )
        choose("fine_tune_learning_rate", FINE_TUNE_PEAK_RATE)
        choose("weight_decay", WEIGHT_DECAY)
    if given.get("augment") is False:
        choose("augment_views", 1, "No augmentation, as asked: each training picture is seen as it is.")
        return plan
    views = 4 if budget_minutes >= 30 else 2
    mirror = given.get("horizontal_flip")
    choose(
        "augment_views",
        views,
        f"{views} fixed views of each training image (the original, "
        + ("shifted copies" if mirror is False else "a mirror image")
        + (" and shifted copies" if views > 2 and mirror is not False else "")
        + "), cached with its features.",
    )
    if mirror is False:
        plan.reasons.append("No mirror images: you said mirroring changes what a picture shows.")
    elif mirror is None:
        plan.reasons.append(
            "Mirror images are kept only if a first model recognises mirrored pictures as well as new ones: "
            "for text, digits or left and right, mirroring changes what a picture shows."
        )
    return plan


def _input_size(spec: BackboneSpec, median_side: int, budget_minutes: float) -> int:
    if median_side <= SMALL_IMAGE_SIDE:
        # 3–4× a small picture's size: enough for the backbone's strides to keep spatial detail.
        size = 64 if budget_minutes < 5 else 96 if budget_minutes < 30 else 128
    else:
        # Not above the picture itself (nothing to gain), not above the backbone's own resolution.
        size = min(spec.default_input_size, _round_up(median_side, 32))
        if budget_minutes < 5:
            size = min(size, 160)
        size = max(size, 96)
    return max(spec.min_input_size, min(size, spec.default_input_size))


def _round_up(value: int, step: int) -> int:
    return -(-value // step) * step
