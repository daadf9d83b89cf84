"""Stored files: where a dataset's and a version's files live, and deleting them.

Everything a dataset owns sits under two folders (``datasets/<id>/`` for images and thumbnails,
``models/<id>/`` for versions' artifacts), so deleting a dataset or a version deletes a folder, and
no file is forgotten when an artifact is added later.
"""

from django.core.files.storage import default_storage


def dataset_images_folder(dataset_id: int) -> str:
    return f"datasets/{dataset_id}"


def dataset_models_folder(dataset_id: int) -> str:
    return f"models/{dataset_id}"


def model_version_folder(*, dataset_id: int, number: int, version_id: int) -> str:
    return f"{dataset_models_folder(dataset_id)}/v{number}-{version_id}"


def stored_files_delete(*, names: list[str]) -> None:
    """Delete files from storage now; names that are already gone are fine."""
    for name in names:
        default_storage.delete(name)


def stored_folder_delete(*, folder: str) -> None:
    """Delete every file under ``folder`` (through the storage API, so object stores work too)."""
    try:
        folders, files = default_storage.listdir(folder)
    except FileNotFoundError:
        return
    stored_files_delete(names=[f"{folder}/{name}" for name in files])
    for name in folders:
        stored_folder_delete(folder=f"{folder}/{name}")
