"""Stored files: deletion shared by every service that removes images or artifacts."""

from django.core.files.storage import default_storage


def stored_files_delete(*, names: list[str]) -> None:
    """Delete files from storage now; names that are already gone are fine."""
    for name in names:
        default_storage.delete(name)
