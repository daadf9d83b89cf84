"""Upper limits on the training options a user may give, so one request cannot hold the training worker
for days (`epochs: 99999999`) or exhaust its memory (`image_size: 20000`, `batch_size: 10000000`).

The operator sets them (``SIGHTLINE_MAX_*``); a value beyond one is a 400 naming the option, the limit and
the setting. The time budget has its own limit (``SIGHTLINE_MAX_BUDGET_MINUTES``, checked by the plan).
"""

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from classifier.ml.backbone_registry import BackboneSpec


def training_option_limits(*, spec: BackboneSpec) -> dict[str, tuple[float, str]]:
    """Each limited option's largest value for this backbone, and the setting that holds it."""
    epochs = (settings.SIGHTLINE_MAX_EPOCHS, "SIGHTLINE_MAX_EPOCHS")
    return {
        "epochs": epochs,
        "fine_tune_epochs": epochs,
        "early_stopping_patience": epochs,
        "batch_size": (settings.SIGHTLINE_MAX_BATCH_SIZE, "SIGHTLINE_MAX_BATCH_SIZE"),
        # Per backbone: a multiple of the size its weights were trained at (Lite0 224 → 448 by default);
        # cost grows with the square of the side.
        "image_size": (
            int(spec.default_input_size * settings.SIGHTLINE_MAX_IMAGE_SIZE_FACTOR),
            "SIGHTLINE_MAX_IMAGE_SIZE_FACTOR",
        ),
        "fine_tune_layers": (settings.SIGHTLINE_MAX_FINE_TUNE_LAYERS, "SIGHTLINE_MAX_FINE_TUNE_LAYERS"),
    }


def training_options_check_limits(*, options: dict[str, Any], spec: BackboneSpec) -> None:
    """Raise a ValidationError naming every option above its limit; values of the wrong type are left to
    the config's own checks, which name them."""
    errors = {}
    for name, (maximum, setting) in training_option_limits(spec=spec).items():
        value = options.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > maximum:
            backbone = f" for {spec.label}" if name == "image_size" else ""
            errors[name] = f"{name} may be at most {maximum:g}{backbone} on this server ({setting}); got {value:g}."
    if errors:
        raise ValidationError(errors)
