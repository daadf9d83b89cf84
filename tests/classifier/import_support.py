"""ZIP archives, pictures and the stored-file listing shared by the import tests."""

import io
import zipfile

from tests.factories import image_bytes
from webapp.storage import stored_names

NOTHING_REJECTED = {
    "duplicate": 0,
    "corrupt": 0,
    "not_image": 0,
    "too_large": 0,
    "unlabelled": 0,
    "unsafe_path": 0,
    "missing": 0,
    "over_quota": 0,
}


def make_zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A ZIP holding ``members`` (name → bytes; a name ending in / is a folder entry)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def jpeg(n: int) -> bytes:
    """A distinct small JPEG per ``n``."""
    return image_bytes(color=(n % 256, (n * 7) % 256, 90))


def stored_files(settings) -> list[str]:
    # Through the storage API, so the same assertions hold on object storage (SIGHTLINE_TEST_STORAGE=s3).
    return sorted(stored_names())
