"""Which class each member of an imported ZIP gets: its folder's name, or the row of a ``filename,label`` CSV
sent beside the archive; members refused on their name alone (unsafe paths, no class) say why here.
"""

import zipfile
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from classifier.services.archives import member_is_system_file, member_is_unsafe, member_path_key
from classifier.services.csv_tables import CsvUnreadable, csv_table_read
from classifier.services.imaging import ImageRejected

_REQUIRED_COLUMNS = ("filename", "label")


@dataclass
class ArchiveMember:
    info: zipfile.ZipInfo
    label: str | None = None
    # Set when the member is refused on its name alone, before it is read.
    rejection: ImageRejected | None = None


def labels_csv_parse(raw: bytes) -> dict[str, str]:
    """``{member path: label}`` from a ``filename,label`` CSV (more columns are fine; an empty label
    means unlabelled). Raises ``ValidationError({"labels": ...})`` naming what is wrong."""
    try:
        table = csv_table_read(raw, what="The labels CSV")
    except CsvUnreadable as error:
        raise ValidationError({"labels": str(error)}) from None
    missing = [column for column in _REQUIRED_COLUMNS if column not in table.columns]
    if missing:
        found = ", ".join(column for column in table.columns if column) or "none"
        message = (
            f"The labels CSV needs the columns filename and label; missing: {', '.join(missing)} (found: {found})."
        )
        raise ValidationError({"labels": message})
    labels: dict[str, str] = {}
    for index, (cell, label_cell) in enumerate(zip(table.cells("filename"), table.cells("label"), strict=True)):
        filename = member_path_key(cell)
        label = label_cell.strip()
        if not filename:
            continue
        if labels.get(filename, label) != label:
            message = (
                f'Line {table.line(index)} of the labels CSV gives {filename} the label "{label}", '
                f'but an earlier line gave it "{labels[filename]}".'
            )
            raise ValidationError({"labels": message})
        labels[filename] = label
    return labels


def archive_members_plan(
    infos: list[zipfile.ZipInfo], labels: dict[str, str] | None
) -> tuple[list[ArchiveMember], list[str]]:
    """The members to import in archive order, each with its class or the reason it is refused, and
    the CSV rows that name no member."""
    members: list[ArchiveMember] = []
    paths: list[list[str]] = []
    for info in infos:
        if info.is_dir():
            continue
        if member_is_unsafe(info.filename):
            rejection = ImageRejected(
                "unsafe_path",
                f"{info.filename} has an unsafe path (absolute, '..' or a backslash) and was skipped.",
            )
            members.append(ArchiveMember(info, rejection=rejection))
            continue
        if member_is_system_file(info.filename):
            continue
        parts = member_path_key(info.filename).split("/")
        members.append(ArchiveMember(info))
        paths.append(parts)

    named = [member for member in members if member.rejection is None]
    if labels is None:
        _labels_from_folders(named, paths)
        return members, []
    matched = _labels_from_csv(named, paths, labels)
    return members, [filename for filename in labels if filename not in matched]


def _labels_from_folders(members: list[ArchiveMember], paths: list[list[str]]) -> None:
    """Each member's class is its folder's name. One folder wrapping all the class folders
    (``birds/sparrow/1.jpg``) is not a class; a single folder holding only files is."""
    wrapped = len({parts[0] for parts in paths}) == 1 and any(len(parts) > 2 for parts in paths)
    for member, parts in zip(members, paths, strict=True):
        folders = parts[1:-1] if wrapped else parts[:-1]
        label = folders[-1].strip() if folders else ""
        if label:
            member.label = label
        else:
            member.rejection = ImageRejected(
                "unlabelled",
                f"{member.info.filename} is not in a class folder; put each class's images in a folder "
                "named after the class.",
            )


def _labels_from_csv(members: list[ArchiveMember], paths: list[list[str]], labels: dict[str, str]) -> set[str]:
    """Each member's class from the CSV row naming its path, any tail of it, or its file name
    (longest match first); returns the CSV names that matched."""
    matched: set[str] = set()
    for member, parts in zip(members, paths, strict=True):
        key = next(
            (tail for tail in ("/".join(parts[start:]) for start in range(len(parts))) if tail in labels),
            None,
        )
        if key is None:
            member.rejection = ImageRejected("unlabelled", f"{member.info.filename} is not in the labels CSV.")
            continue
        matched.add(key)
        if labels[key]:
            member.label = labels[key]
        else:
            member.rejection = ImageRejected(
                "unlabelled", f"{member.info.filename} has an empty label in the labels CSV."
            )
    return matched
