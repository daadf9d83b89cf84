"""Stored files: where a dataset's and a version's files live, their names, and the size of an upload
before it is stored.

Everything a dataset owns sits under two folders (``datasets/<id>/`` for images and thumbnails,
``models/<id>/`` for versions' artifacts), so deleting a dataset or a version deletes a folder, and
no file is forgotten when an artifact is added later.
"""

from __future__ import annotations

import os

from django.core.files.uploadedfile import UploadedFile
from django.db.models.fields.files import FieldFile


def dataset_images_folder(dataset_id: int) -> str:
    return f"datasets/{dataset_id}"


def dataset_models_folder(dataset_id: int) -> str:
    return f"models/{dataset_id}"


def model_version_folder(*, dataset_id: int, number: int, version_id: int) -> str:
    return f"{dataset_models_folder(dataset_id)}/v{number}-{version_id}"


def stored_file_name(file: FieldFile) -> str:
    """The storage name of a file field that always holds a file (an image's picture, a version's model):
    an empty one is a missing file, as a name whose file is gone would be."""
    if not file.name:
        raise FileNotFoundError(f"{file.instance} has no {file.field.name} file.")
    return file.name


def upload_size(upload: UploadedFile[bytes]) -> int:
    """An upload's size in bytes: Django's upload handlers always give it; a file made without one is
    measured, so no size limit is skipped for it."""
    if upload.size is not None:
        return upload.size
    position = upload.tell()
    upload.seek(0, os.SEEK_END)
    size: int = upload.tell()
    upload.seek(position)
    return size
