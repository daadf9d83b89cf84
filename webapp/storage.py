"""Deleting stored files through the storage API, shared by every app (object stores work too)."""

from collections.abc import Iterator

from django.core.files.storage import default_storage


def stored_files_delete(*, names: list[str]) -> None:
    """Delete files from storage now; names that are already gone are fine."""
    for name in names:
        default_storage.delete(name)


def stored_folder_delete(*, folder: str) -> None:
    """Delete every file under ``folder``."""
    try:
        folders, files = default_storage.listdir(folder)
    except FileNotFoundError:
        return
    stored_files_delete(names=[f"{folder}/{name}" for name in files])
    for name in folders:
        stored_folder_delete(folder=f"{folder}/{name}")


def stored_names(folder: str = "") -> Iterator[str]:
    """Every stored file's name under ``folder`` (all of storage by default)."""
    try:
        folders, files = default_storage.listdir(folder)
    except FileNotFoundError:
        return
    prefix = f"{folder}/" if folder else ""
    for name in files:
        yield f"{prefix}{name}"
    for name in folders:
        yield from stored_names(f"{prefix}{name}")
