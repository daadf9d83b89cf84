"""Install the ready-made ImageNet-1k classifiers: EfficientNet-Lite0, Lite1 and Lite2 with their published
weights, as versions 1 to 3 of a public, read-only dataset owned by an inactive system user.

Run at every platform start: once everything is installed it only checks rows and files (no TensorFlow).
Each model also gets an int8 file, calibrated on the offline sample photos (``classifier.ml.sample_photos``)
and compared with the float one on the labelled ones; it serves by the trained versions' rule
(``services.quantization``). An install from before int8 models is rebuilt once to add them.
An install whose rows say less than this command now writes (how images are resized, the answer
threshold) has its rows and metadata.json brought up to date in place: the model files stay as they are.
"""

import json
import time
import uuid
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from classifier.ml import sample_photos
from classifier.ml.backbone_registry import get_backbone_spec
from classifier.ml.imagenet import ANSWER_THRESHOLDS, imagenet_class_names
from classifier.ml.images import CENTER_CROP, IMAGENET_CROP_FRACTION, load_array
from classifier.models import Dataset, ModelVersion
from classifier.services.model_artifacts import MODEL_INPUT, model_version_artifacts_store
from classifier.services.quantization import serving_choice
from classifier.services.storage import model_version_folder
from webapp.storage import stored_folder_delete

SYSTEM_USERNAME = "sightline"
DATASET_NAME = "ImageNet-1k"
DATASET_DESCRIPTION = (
    "Read-only ready-made classifiers for the 1000 ImageNet classes: EfficientNet-Lite0, Lite1 and Lite2 "
    "with their published ImageNet weights. Everyone can predict with them; to recognise other things, "
    "create a dataset of your own and train it."
)
# Version number -> EfficientNet-Lite variant. Version 1, the smallest and fastest, serves by default.
VARIANTS = {1: "lite0", 2: "lite1", 3: "lite2"}
# Served as their weights were evaluated (bench/imagenet_models.py compares the ways): a centre crop,
# where every trained version stretches the whole image as it was trained on it.
MODEL_INPUT_IMAGENET = {**MODEL_INPUT, "resize": CENTER_CROP, "crop_fraction": IMAGENET_CROP_FRACTION}
HYPERPARAMETERS = {"weights": "imagenet", "pretrained": "ImageNet-1k", "input": MODEL_INPUT_IMAGENET}
CALIBRATION_NOTE = (
    "Published ImageNet weights' own probabilities, not recalibrated: there is no data here to fit a temperature "
    "or measure calibration on. They run low (label smoothing in training, 1000 classes), so answers use a lower "
    "threshold, measured on sample photos by bench/imagenet_models.py."
)
# No training embeddings come with published weights, so there is nothing to fit a detector on.
UNKNOWN_STATS = {"method": "none"}


class Command(BaseCommand):
    help = (
        "Install the ImageNet-1k EfficientNet-Lite0/1/2 models as a public dataset's versions 1-3. "
        "Does nothing when they are installed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force", action="store_true", help="Rebuild every model, installed or not (same versions, new files)."
        )

    def handle(self, *args: Any, force: bool, **options: Any) -> None:
        dataset = self._dataset(self._system_user())
        built = refreshed = 0
        for number, variant in VARIANTS.items():
            version = ModelVersion.objects.filter(dataset=dataset, number=number).first()
            if version is not None and not force and _installed(version):
                if version.hyperparameters != HYPERPARAMETERS or version.calibration != _calibration(variant):
                    self._refresh(version, variant)
                    refreshed += 1
                continue
            self._install(dataset, number, variant, version)
            built += 1
        if not dataset.model_versions.filter(is_active=True).exists():
            # Only when none serves: an administrator's later promotion is kept.
            dataset.model_versions.filter(number=1).update(is_active=True)
            self.stdout.write(f"{DATASET_NAME}: version 1 ({_label(VARIANTS[1])}) is the active version.")
        if built or refreshed:
            done = [f"installed {built} model(s)"] if built else []
            done += [f"updated how {refreshed} model(s) answer"] if refreshed else []
            self.stdout.write(self.style.SUCCESS(f"{DATASET_NAME}: {' and '.join(done)}."))
        else:
            self.stdout.write(f"{DATASET_NAME}: all {len(VARIANTS)} models are installed; nothing to do.")

    def _system_user(self) -> User:
        user, created = User.objects.get_or_create(username=SYSTEM_USERNAME, defaults={"is_active": False})
        if created:
            # Owns the public dataset; nobody can sign in as it.
            user.set_unusable_password()
            user.save(update_fields=["password"])
            self.stdout.write(f"Created the inactive system user {SYSTEM_USERNAME!r}.")
        return user

    def _dataset(self, owner: User) -> Dataset:
        dataset, created = Dataset.objects.get_or_create(
            owner=owner, name=DATASET_NAME, defaults={"description": DATASET_DESCRIPTION, "is_public": True}
        )
        if created:
            self.stdout.write(f"Created the public dataset {DATASET_NAME!r}.")
        elif not dataset.is_public:
            Dataset.objects.filter(id=dataset.id).update(is_public=True)
        return dataset

    def _install(self, dataset: Dataset, number: int, variant: str, version: ModelVersion | None) -> None:
        from classifier.ml.backbones import build_efficientnet_lite_classifier

        backbone = f"efficientnet_{variant}"
        image_size = get_backbone_spec(backbone).default_input_size
        class_names = list(imagenet_class_names())
        label = _label(variant)
        started = time.perf_counter()
        if version is None:
            # Marked as training while it is built: a crash leaves it for the next run to rebuild.
            version = ModelVersion.objects.create(
                dataset=dataset,
                number=number,
                backbone=backbone,
                image_size=image_size,
                status=ModelVersion.Status.TRAINING,
                class_names=class_names,
                created_by=dataset.owner,
            )
        old_files = [
            file.name
            for file in (version.keras_file, version.tflite_file, version.tflite_int8_file, version.unknown_file)
            if file.name
        ]
        self.stdout.write(f"{label}: building the Keras model with the packaged ImageNet weights…")
        model = build_efficientnet_lite_classifier(variant, weights_dir=settings.SIGHTLINE_WEIGHTS_DIR)
        self.stdout.write(f"{label}: saving it and converting it to TFLite (this takes the longest)…")
        # A fresh folder per build: web processes cache predictors by file name, so a rebuilt file
        # must never take its predecessor's name.
        # Inside the version's folder, so deleting the version still deletes every build.
        version_folder = model_version_folder(dataset_id=dataset.id, number=number, version_id=version.id)
        folder = f"{version_folder}/{uuid.uuid4().hex[:8]}"
        calibration = sample_photos.calibration_photos(image_size)
        artifacts = model_version_artifacts_store(
            version=version,
            model=model,
            folder=folder,
            metadata=_metadata(variant),
            calibration_images=calibration if len(calibration) else None,
        )
        artifacts["quantization"] = _photo_comparison(artifacts, image_size)
        ModelVersion.objects.filter(id=version.id).update(
            backbone=backbone,
            image_size=image_size,
            hyperparameters=HYPERPARAMETERS,
            status=ModelVersion.Status.READY,
            class_names=class_names,
            metrics={},
            most_confused=[],
            calibration=_calibration(variant),
            unknown_file="",
            unknown_stats=UNKNOWN_STATS,
            trained_at=timezone.now(),
            **{"tflite_int8_file": "", **artifacts},
        )
        for old_folder in sorted({name.rsplit("/", 1)[0] for name in old_files}):
            stored_folder_delete(folder=old_folder)
        choice = serving_choice(record=artifacts["quantization"], has_int8=bool(artifacts.get("tflite_int8_file")))
        self.stdout.write(f"{label}: {choice.reason}")
        self.stdout.write(f"{label}: installed as version {number} in {time.perf_counter() - started:.0f} s.")

    def _refresh(self, version: ModelVersion, variant: str) -> None:
        """Bring an older install's rows and metadata.json up to what this command writes; the model files
        are unchanged (preprocessing happens before the model, the threshold after it)."""
        ModelVersion.objects.filter(id=version.id).update(
            hyperparameters=HYPERPARAMETERS, calibration=_calibration(variant)
        )
        tflite_name = version.tflite_file.name
        if not tflite_name:
            # Not reached: only installed versions, whose files exist, are refreshed.
            raise CommandError(f"{_label(variant)}: version {version.number} has no TFLite file.")
        metadata = f"{tflite_name.rsplit('/', 1)[0]}/metadata.json"
        default_storage.delete(metadata)
        default_storage.save(metadata, ContentFile(json.dumps(_metadata(variant), indent=2).encode()))
        self.stdout.write(
            f"{_label(variant)}: version {version.number} now resizes by {CENTER_CROP} and answers from "
            f"{ANSWER_THRESHOLDS[variant]:.0%}."
        )


def _calibration(variant: str) -> dict[str, Any]:
    return {
        "temperature": 1.0,
        "recalibrated": False,
        "answer_threshold": ANSWER_THRESHOLDS[variant],
        "note": CALIBRATION_NOTE,
    }


def _metadata(variant: str) -> dict[str, Any]:
    backbone = f"efficientnet_{variant}"
    return {
        "class_names": list(imagenet_class_names()),
        "backbone": backbone,
        "image_size": get_backbone_spec(backbone).default_input_size,
        "input": MODEL_INPUT_IMAGENET,
        "temperature": 1.0,
    }


def _photo_comparison(artifacts: dict[str, Any], image_size: int) -> dict[str, Any]:
    """The quantization record, with the float and int8 models' top-1 on the labelled sample photos (there
    is no test split for published weights), or why there is no int8 model."""
    from classifier.ml.quantize import float_int8_comparison

    record = artifacts.get("quantization") or {
        "error": "No sample photos to calibrate an int8 model on (scikit-image, scikit-learn or matplotlib are "
        "not installed); run install_imagenet_models --force once one is."
    }
    if not artifacts.get("tflite_int8_file"):
        return record
    labelled = sample_photos.labelled_photos()
    pixels = np.stack([load_array(data, image_size, CENTER_CROP) for _name, data, _right in labelled])
    measured = float_int8_comparison(
        _stored_bytes(artifacts["tflite_file"]),
        _stored_bytes(artifacts["tflite_int8_file"]),
        pixels,
        [right for *_, right in labelled],
    )
    return {**record, **measured, "measured_on": "sample photos"}


def _stored_bytes(name: str) -> bytes:
    with default_storage.open(name, "rb") as file:
        content: bytes = file.read()
    return content


def _installed(version: ModelVersion) -> bool:
    if version.status != ModelVersion.Status.READY:
        return False
    # An install from before int8 models has no record of one: it is rebuilt once to add it.
    if not version.quantization:
        return False
    return all(file.name and default_storage.exists(file.name) for file in (version.keras_file, version.tflite_file))


def _label(variant: str) -> str:
    return get_backbone_spec(f"efficientnet_{variant}").label
