"""Read uploaded ZIP archives safely: imports and batch predictions share these checks.

An archive is read from storage one member at a time into memory and is never extracted, so no member
name ever becomes a path on disk; hostile archives (zip bombs, ``../`` names) are refused from their
directory before anything is decompressed.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile

from classifier.services.imaging import ImageRejected
from classifier.services.storage import upload_size
from training_jobs.services import JobInputError
from webapp.units import human_bytes

# Small members compress well for honest reasons (blank PNGs); only big ones are checked for ratio.
_RATIO_CHECKED_ABOVE_BYTES = 1024 * 1024
# Other methods (bzip2, LZMA) decompress a whole read at once, so their output cannot be bounded.
_READABLE_COMPRESSION = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
_SYSTEM_NAMES = {"__MACOSX", "Thumbs.db", "desktop.ini"}
_ZIP_ERRORS = (zipfile.BadZipFile, OSError, EOFError, ValueError)


def archive_upload_check(archive: UploadedFile[bytes]) -> None:
    """Refuse an upload that is over the size limit or not a readable ZIP: ``ValidationError({"archive"})``."""
    limit = settings.SIGHTLINE_MAX_ARCHIVE_BYTES
    size = upload_size(archive)
    if size > limit:
        message = f"The archive is {human_bytes(size)}; the limit is {human_bytes(limit)}."
        raise ValidationError({"archive": message})
    if not zipfile.is_zipfile(archive):
        raise ValidationError({"archive": f"{archive.name} is not a ZIP archive."})
    # is_zipfile only finds the end record; listing the members proves the directory is readable.
    try:
        with zipfile.ZipFile(archive) as opened:
            opened.infolist()
    except _ZIP_ERRORS as error:
        raise ValidationError({"archive": f"{archive.name} is a damaged ZIP archive: {error}."}) from None


@contextmanager
def stored_archive_open(name: str) -> Iterator[zipfile.ZipFile]:
    """The stored archive, opened for reading; ``JobInputError`` if it is not a readable ZIP."""
    with default_storage.open(name, "rb") as stored:
        try:
            archive = zipfile.ZipFile(stored)
        except _ZIP_ERRORS as error:
            raise JobInputError(f"The archive is not a readable ZIP file: {error}.") from None
        with archive:
            yield archive


def archive_refuse_bombs(infos: list[zipfile.ZipInfo]) -> None:
    """Refuse the archive from its directory alone, before a byte is decompressed (``JobInputError``)."""
    max_members = settings.SIGHTLINE_MAX_ARCHIVE_MEMBERS
    if len(infos) > max_members:
        raise JobInputError(f"The archive holds {len(infos):,} entries; the limit is {max_members:,}.")
    unpacked = sum(info.file_size for info in infos)
    max_unpacked = settings.SIGHTLINE_MAX_ARCHIVE_UNCOMPRESSED_BYTES
    if unpacked > max_unpacked:
        raise JobInputError(
            f"The archive would unpack to {human_bytes(unpacked)} ({unpacked:,} bytes); "
            f"the limit is {human_bytes(max_unpacked)}."
        )
    max_ratio = settings.SIGHTLINE_MAX_COMPRESSION_RATIO
    for info in infos:
        if info.file_size <= _RATIO_CHECKED_ABOVE_BYTES:
            continue
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > max_ratio:
            raise JobInputError(
                f"{info.filename} would unpack from {human_bytes(info.compress_size)} to "
                f"{human_bytes(info.file_size)}, a compression ratio of {ratio:,.0f}:1; more than "
                f"{max_ratio:,.0f}:1 is refused as a possible zip bomb."
            )


def member_path_key(name: str) -> str:
    """``./birds\\a.jpg`` → ``birds/a.jpg``: how CSV rows and member names are compared."""
    return "/".join(part for part in name.strip().replace("\\", "/").split("/") if part not in ("", "."))


def member_is_unsafe(name: str) -> bool:
    # Never used as a path here, but such a name is a crafted archive (zip slip) and is reported.
    return (
        name.startswith("/")
        or "\\" in name
        or (len(name) > 1 and name[0].isalpha() and name[1] == ":")  # a Windows drive
        or ".." in name.split("/")
    )


def member_is_system_file(name: str) -> bool:
    """Hidden files and what macOS and Windows add to archives (``__MACOSX/``, ``Thumbs.db``): skipped."""
    return any(part.startswith(".") or part in _SYSTEM_NAMES for part in member_path_key(name).split("/"))


def archive_member_read(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The member's bytes, at most one past the image limit; ``ImageRejected`` if it cannot be read."""
    if info.compress_type not in _READABLE_COMPRESSION:
        raise ImageRejected(
            "corrupt",
            f"{info.filename} uses a compression method Sightline does not read; "
            "re-create the ZIP with standard (deflate) compression.",
        )
    try:
        with archive.open(info) as member:
            # At most one byte past the limit whatever the header claims; image_check refuses that.
            return member.read(settings.SIGHTLINE_MAX_IMAGE_BYTES + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as error:
        # RuntimeError: an encrypted member. BadZipFile: a CRC or header that does not match.
        raise ImageRejected(
            "corrupt", f"{info.filename} could not be read from the archive: {str(error).rstrip('.')}."
        ) from None
