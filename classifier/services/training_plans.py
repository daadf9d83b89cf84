"""A new version's training options, checked and completed by the plan for its time budget.

The user's options are checked here, in the web tier, so a bad request is a 400 naming the problem:
an unknown option, a value out of range, a budget out of range, or a backbone whose ImageNet weights
this install does not have (a missing file is refused at submission, not turned into a failed job).
What the user left out, ``classifier.ml.plan`` chooses from the dataset and the budget.
"""

from statistics import median
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.db.models.functions import Greatest

from classifier.ml.backbone_registry import UnknownBackbone, available_backbones, get_backbone_spec
from classifier.ml.backbone_weights import pretrained_weights_available, weights_file_name
from classifier.ml.config import TrainingConfig
from classifier.ml.plan import DataSummary, budget_minutes_resolve, plan_training
from classifier.models import Dataset, DatasetImage
from classifier.services.training_limits import training_options_check_limits

# What a user may set; the rest of TrainingConfig (weights folder, seed…) comes from the platform.
USER_OPTIONS = (
    "backbone", "image_size", "epochs", "batch_size", "learning_rate", "fine_tune_layers",
    "fine_tune_epochs", "early_stopping_patience", "augment", "horizontal_flip", "weights", "dropout",
    "label_smoothing", "budget_minutes",
)
# Images whose size the plan looks at: enough for a stable median.
SIZE_SAMPLE = 2000


def training_plan_build(
    *, dataset: Dataset, class_names: list[str], options: dict[str, Any]
) -> tuple[TrainingConfig, dict[str, Any]]:
    """The full TrainingConfig for these options on this dataset, and the plan to show (what was
    chosen and why, the budget, and the options the user gave). Raises ValidationError by field."""
    unknown = sorted(set(options) - set(USER_OPTIONS))
    if unknown:
        raise ValidationError({name: "Unknown training option." for name in unknown})
    # Empty form fields and nulls mean "let the plan choose".
    asked = {name: value for name, value in options.items() if value is not None and value != ""}
    given = dict(asked)
    if given.get("weights") == "none":
        given["weights"] = None
    try:
        budget = budget_minutes_resolve(
            given.pop("budget_minutes", None), maximum=settings.SIGHTLINE_MAX_BUDGET_MINUTES
        )
    except ValueError as exc:
        raise ValidationError({"budget_minutes": str(exc)}) from exc
    if given.get("fine_tune_layers") and "fine_tune_epochs" not in given:
        # Asking for fine-tuning layers means fine-tuning; give it as many epochs as the head.
        given["fine_tune_epochs"] = given.get("epochs", TrainingConfig.epochs)
    try:
        spec = get_backbone_spec(given.get("backbone", TrainingConfig.backbone))
    except UnknownBackbone as exc:
        raise ValidationError({"backbone": str(exc)}) from exc
    training_options_check_limits(options=given, spec=spec)
    if given.get("weights", "imagenet") == "imagenet":
        _check_weights(spec.name, given.get("image_size"))
    plan = plan_training(given=given, spec=spec, data=dataset_summary(dataset=dataset, class_names=class_names),
                         budget_minutes=budget)
    try:
        config = TrainingConfig.from_dict({**plan.chosen, **given, "budget_minutes": budget})
    except ValueError as exc:
        field = str(exc).split(" ", 1)[0]
        raise ValidationError({field if field in USER_OPTIONS else "non_field_errors": str(exc)}) from exc
    # What a retrain repeats: the user's own options, the plan made again for the data of the day.
    return config, {**plan.to_dict(), "options": {**asked, "budget_minutes": budget}}


def _check_weights(backbone: str, image_size: int | None) -> None:
    folder = settings.SIGHTLINE_WEIGHTS_DIR
    if pretrained_weights_available(backbone, weights_dir=folder, input_size=image_size):
        return
    if settings.SIGHTLINE_ALLOW_WEIGHT_DOWNLOADS:
        return
    working = [
        spec.name for spec in available_backbones() if pretrained_weights_available(spec.name, weights_dir=folder)
    ]
    file_name = weights_file_name(backbone, input_size=image_size)
    raise ValidationError(
        {
            "backbone": f"{backbone} has no ImageNet weights on this install: place {file_name} in {folder}, "
            f"or choose a backbone whose weights are here: {', '.join(working) or 'none'} "
            "(or weights: none to train from scratch)."
        }
    )


def dataset_summary(*, dataset: Dataset, class_names: list[str]) -> DataSummary:
    images = DatasetImage.objects.filter(dataset=dataset, label__name__in=class_names)
    counts = images.aggregate(
        train=Count("id", filter=Q(split=DatasetImage.Split.TRAIN)),
        val=Count("id", filter=Q(split=DatasetImage.Split.VAL)),
        test=Count("id", filter=Q(split=DatasetImage.Split.TEST)),
    )
    sides = list(
        images.filter(split=DatasetImage.Split.TRAIN)
        .annotate(side=Greatest("width", "height"))
        .order_by("id")
        .values_list("side", flat=True)[:SIZE_SAMPLE]
    )
    return DataSummary(
        train_count=counts["train"],
        val_count=counts["val"],
        test_count=counts["test"],
        class_count=len(class_names),
        median_side=int(median(sides)) if sides else 224,
    )
