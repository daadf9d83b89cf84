"""A training's checkpoints in the storage API, under its version's folder (deleted with it).

Each save writes a new numbered file and only then deletes the older ones, so a worker killed while
saving leaves the previous checkpoint readable; readers try the newest first.
"""

import re
from collections.abc import Iterator

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from webapp.storage import stored_files_delete, stored_folder_delete

_NAME = re.compile(r"^checkpoint-(\d+)\.npz$")


class StoredCheckpoints:
    def __init__(self, version_folder: str) -> None:
        self.folder = f"{version_folder}/checkpoints"

    def _numbered(self) -> list[tuple[int, str]]:
        try:
            _folders, files = default_storage.listdir(self.folder)
        except FileNotFoundError:
            return []
        found = [(int(match.group(1)), name) for name in files if (match := _NAME.match(name))]
        return sorted(found, reverse=True)

    def saved(self) -> Iterator[bytes]:
        for _number, name in self._numbered():
            try:
                with default_storage.open(f"{self.folder}/{name}", "rb") as file:
                    yield file.read()
            except FileNotFoundError:
                continue

    def save(self, data: bytes) -> None:
        older = self._numbered()
        number = older[0][0] + 1 if older else 1
        default_storage.save(f"{self.folder}/checkpoint-{number:06d}.npz", ContentFile(data))
        stored_files_delete(names=[f"{self.folder}/{name}" for _number, name in older])

    def delete(self) -> None:
        stored_folder_delete(folder=self.folder)
