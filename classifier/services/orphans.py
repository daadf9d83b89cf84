"""Stored files that nothing references: left by a crash between writing a file and its row, by a
deletion made outside the services (a shell, a cascade), or by an older release.

A file is referenced when a row's file field names it, when a job that is still queued or running
names it in its parameters (an uploaded archive), when it lies in the folder of a version still
training (checkpoints, exports in progress), or when it is the metadata.json beside a referenced
model file. Files younger than the grace period are never taken: a file is written before its row.
"""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import models
from django.utils import timezone

from classifier.models import ModelVersion
from classifier.services.storage import model_version_folder
from training_jobs.models import Job
from training_jobs.services import ACTIVE_STATUSES
from webapp.storage import stored_files_delete, stored_names

METADATA_NAME = "metadata.json"


def stored_orphans_find(*, min_age: timedelta | None = None) -> list[str]:
    """Names of stored files no row references, older than ``min_age`` (default: the setting)."""
    min_age = min_age if min_age is not None else timedelta(hours=settings.SIGHTLINE_ORPHAN_MIN_AGE_HOURS)
    referenced = _referenced_names()
    folders_in_use = {name.rsplit("/", 1)[0] for name in referenced if "/" in name}
    held = tuple(f"{folder}/" for folder in _training_folders())
    cutoff = timezone.now() - min_age
    orphans = []
    for name in stored_names():
        if name in referenced or name.startswith(held):
            continue
        if name.rsplit("/", 1)[-1] == METADATA_NAME and name.rsplit("/", 1)[0] in folders_in_use:
            continue
        if default_storage.get_modified_time(name) > cutoff:
            continue
        orphans.append(name)
    return sorted(orphans)


def stored_orphans_delete(*, min_age: timedelta | None = None) -> list[str]:
    orphans = stored_orphans_find(min_age=min_age)
    stored_files_delete(names=orphans)
    return orphans


def _referenced_names() -> set[str]:
    names: set[str] = set()
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if isinstance(field, models.FileField):
                names.update(model._default_manager.exclude(**{field.name: ""}).values_list(field.name, flat=True))
    for params in Job.objects.filter(status__in=ACTIVE_STATUSES).values_list("params", flat=True):
        names.update(_strings(params))
    return names


def _training_folders() -> Iterator[str]:
    unfinished = ModelVersion.objects.filter(status__in=[ModelVersion.Status.QUEUED, ModelVersion.Status.TRAINING])
    for dataset_id, number, version_id in unfinished.values_list("dataset_id", "number", "id"):
        yield model_version_folder(dataset_id=dataset_id, number=number, version_id=version_id)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
