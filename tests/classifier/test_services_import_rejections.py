"""ZIP imports refused: every per-file rejection, bad labels CSVs, and hostile archives."""

import io
import struct
import zipfile
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from classifier.models import DatasetImage
from classifier.services.imports import dataset_import_start
from tests.classifier.import_support import NOTHING_REJECTED, jpeg, make_zip, stored_files
from tests.classifier.test_services_imaging import noisy_jpeg
from tests.factories import DatasetFactory, DatasetImageFactory
from training_jobs.models import Job
from webapp.units import human_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(user):
    return DatasetFactory(owner=user)


def test_import_reports_each_bad_file_with_its_reason(dataset, run_import, settings):
    DatasetImageFactory(dataset=dataset, content=jpeg(50), original_name="old.jpg")
    settings.SIGHTLINE_MAX_IMAGE_BYTES = 4000
    cut = noisy_jpeg(size=(40, 40))
    big = noisy_jpeg(size=(128, 128))
    archive = make_zip(
        {
            "birds/sparrow/1.jpg": jpeg(1),
            "birds/sparrow/1-copy.jpg": jpeg(1),
            "birds/sparrow/old-again.jpg": jpeg(50),
            "birds/robin/cut.jpg": cut[: len(cut) * 2 // 3],
            "birds/robin/notes.jpg": b"not a photo",
            "birds/robin/big.jpg": big,
            "birds/loose.jpg": jpeg(2),
            "../evil.jpg": jpeg(3),
        }
    )

    job = run_import(dataset, archive)

    assert (job.status, job.message) == ("succeeded", "Imported 1 of 8 files")
    report = job.report
    assert {key: report[key] for key in ("imported", *NOTHING_REJECTED, "total")} == {
        "imported": 1,
        "duplicate": 2,
        "corrupt": 1,
        "not_image": 1,
        "too_large": 1,
        "unlabelled": 1,
        "unsafe_path": 1,
        "missing": 0,
        "over_quota": 0,
        "total": 8,
    }
    assert report["classes"] == {"sparrow": 1}
    details = {rejection["filename"]: (rejection["reason"], rejection["detail"]) for rejection in report["rejected"]}
    assert details["birds/sparrow/1-copy.jpg"] == (
        "duplicate",
        "birds/sparrow/1-copy.jpg is the same picture as birds/sparrow/1.jpg already in the dataset.",
    )
    assert details["birds/sparrow/old-again.jpg"] == (
        "duplicate",
        "birds/sparrow/old-again.jpg is the same picture as old.jpg already in the dataset.",
    )
    assert details["birds/robin/cut.jpg"][0] == "corrupt"
    assert details["birds/robin/cut.jpg"][1].startswith("birds/robin/cut.jpg is damaged or truncated:")
    assert details["birds/robin/notes.jpg"] == (
        "not_image",
        "birds/robin/notes.jpg is not an image Sightline can read (JPEG, PNG, GIF, BMP, WebP or TIFF).",
    )
    assert details["birds/robin/big.jpg"] == (
        "too_large",
        f"birds/robin/big.jpg is {human_bytes(len(big))}; the limit is 3.9 KB.",
    )
    assert details["birds/loose.jpg"][0] == "unlabelled"
    assert details["../evil.jpg"] == (
        "unsafe_path",
        "../evil.jpg has an unsafe path (absolute, '..' or a backslash) and was skipped.",
    )
    # The robin folder had no good image: no empty class is left behind.
    assert not dataset.classes.filter(name="robin").exists()


def test_unsafe_member_paths_are_rejected_and_nothing_is_written_for_them(dataset, run_import, settings, tmp_path):
    unsafe = ["../evil.jpg", "/abs.jpg", "birds\\..\\..\\win.jpg", "sparrow/../../up.jpg", "C:/drive.jpg"]
    archive = make_zip({**{name: jpeg(n) for n, name in enumerate(unsafe)}, "sparrow/ok.jpg": jpeg(99)})

    job = run_import(dataset, archive)

    assert job.report["unsafe_path"] == len(unsafe)
    assert [rejection["filename"] for rejection in job.report["rejected"]] == unsafe
    assert job.report["imported"] == 1
    written = [path.name for path in tmp_path.rglob("*") if path.is_file()]
    assert not {"evil.jpg", "abs.jpg", "win.jpg", "up.jpg", "drive.jpg"} & set(written)
    assert not any(Path(name).exists() for name in ("../evil.jpg", "/abs.jpg"))
    assert list(DatasetImage.objects.filter(dataset=dataset).values_list("original_name", flat=True)) == [
        "sparrow/ok.jpg"
    ]
    assert len(stored_files(settings)) == 2  # ok.jpg and its thumbnail


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (
            b"filename,class\n1.jpg,robin\n",
            "The labels CSV needs the columns filename and label; missing: label (found: filename, class).",
        ),
        (b"", "The labels CSV needs the columns filename and label; missing: filename, label (found: none)."),
        (
            b"filename,label\nna\xefve.jpg,robin\n",
            "The labels CSV is not UTF-8 text (byte 17 cannot be read); save it as UTF-8.",
        ),
        (
            b"filename,label\n1.jpg,robin\n1.jpg,heron\n",
            'Line 3 of the labels CSV gives 1.jpg the label "heron", but an earlier line gave it "robin".',
        ),
    ],
)
def test_start_refuses_a_bad_labels_csv(dataset, user, settings, labels, message):
    with pytest.raises(ValidationError) as caught:
        dataset_import_start(
            dataset=dataset,
            requested_by=user,
            archive=SimpleUploadedFile("birds.zip", make_zip({"robin/1.jpg": jpeg(1)})),
            labels=SimpleUploadedFile("labels.csv", labels),
        )

    assert caught.value.message_dict == {"labels": [message]}
    assert not Job.objects.exists()
    assert stored_files(settings) == []


def test_start_refuses_a_file_that_is_not_a_zip(dataset, user):
    with pytest.raises(ValidationError) as caught:
        dataset_import_start(
            dataset=dataset,
            requested_by=user,
            archive=SimpleUploadedFile("notes.zip", b"plain text, not a zip"),
        )

    assert caught.value.message_dict == {"archive": ["notes.zip is not a ZIP archive."]}


def test_start_refuses_an_archive_over_the_size_limit(dataset, user, settings):
    settings.SIGHTLINE_MAX_ARCHIVE_BYTES = 100
    archive = make_zip({"robin/1.jpg": jpeg(1)})

    with pytest.raises(ValidationError) as caught:
        dataset_import_start(dataset=dataset, requested_by=user, archive=SimpleUploadedFile("birds.zip", archive))

    assert caught.value.message_dict == {
        "archive": [f"The archive is {human_bytes(len(archive))}; the limit is 100 bytes."]
    }


def test_highly_compressed_member_fails_the_job_before_anything_is_written(dataset, run_import, settings):
    archive = make_zip({"robin/1.jpg": jpeg(1), "robin/bomb.jpg": bytes(2 * 1024 * 1024)})
    bomb = zipfile.ZipFile(io.BytesIO(archive)).getinfo("robin/bomb.jpg")
    ratio = bomb.file_size / bomb.compress_size

    job = run_import(dataset, archive)

    assert job.status == "failed"
    assert job.error == (
        f"robin/bomb.jpg would unpack from {human_bytes(bomb.compress_size)} to 2.0 MB, "
        f"a compression ratio of {ratio:,.0f}:1; more than 200:1 is refused as a possible zip bomb."
    )
    assert not DatasetImage.objects.filter(dataset=dataset).exists()
    assert stored_files(settings) == []


def _declare_uncompressed_size(archive: bytes, size: int) -> bytes:
    """Overwrite the first member's uncompressed size in the central directory (what readers trust)."""
    patched = bytearray(archive)
    entry = patched.index(b"PK\x01\x02")
    patched[entry + 24 : entry + 28] = struct.pack("<I", size)
    return bytes(patched)


def test_archive_declaring_an_absurd_unpacked_size_fails_the_job(dataset, run_import, settings):
    settings.SIGHTLINE_MAX_ARCHIVE_UNCOMPRESSED_BYTES = 1024**3
    archive = _declare_uncompressed_size(make_zip({"robin/1.jpg": jpeg(1)}), 0xFFFFFFF0)

    job = run_import(dataset, archive)

    assert job.status == "failed"
    assert job.error == "The archive would unpack to 4.0 GB (4,294,967,280 bytes); the limit is 1.0 GB."
    assert stored_files(settings) == []


def test_archive_with_too_many_members_fails_the_job(dataset, run_import, settings):
    settings.SIGHTLINE_MAX_ARCHIVE_MEMBERS = 2

    job = run_import(dataset, make_zip({f"robin/{n}.jpg": jpeg(n) for n in range(3)}))

    assert (job.status, job.error) == ("failed", "The archive holds 3 entries; the limit is 2.")
    assert not DatasetImage.objects.filter(dataset=dataset).exists()


def test_archive_with_nothing_to_import_fails_the_job(dataset, run_import):
    job = run_import(dataset, make_zip({"birds/": b"", "__MACOSX/._x.jpg": b"fork", ".DS_Store": b"finder"}))

    assert (job.status, job.error) == (
        "failed",
        "The archive has no files to import, only folders or system files.",
    )


def test_an_import_of_only_bad_files_fails_saying_why_and_keeps_its_report(dataset, run_import, settings):
    job = run_import(dataset, make_zip({"robin/notes.txt": b"not a picture", "robin/broken.jpg": b"\xff\xd8\xff"}))

    assert job.status == "failed"
    assert job.error.startswith("Nothing was imported: every file was refused (")
    assert job.report["imported"] == 0 and job.report["total"] == 2
    assert {row["filename"] for row in job.report["rejected"]} == {"robin/notes.txt", "robin/broken.jpg"}
    assert not DatasetImage.objects.filter(dataset=dataset).exists()
    assert stored_files(settings) == []


def test_an_import_of_images_already_stored_fails_saying_so(dataset, run_import):
    first = run_import(dataset, make_zip({"robin/1.jpg": jpeg(1), "robin/2.jpg": jpeg(2)}))
    again = run_import(dataset, make_zip({"robin/1.jpg": jpeg(1), "robin/2.jpg": jpeg(2)}))

    assert first.status == "succeeded"
    assert (again.status, again.error) == ("failed", "Nothing was imported: all 2 images are already in this dataset.")
    assert again.report["duplicate"] == 2
    assert DatasetImage.objects.filter(dataset=dataset).count() == 2


def test_members_compressed_with_unsupported_methods_are_reported(dataset, run_import):
    job = run_import(dataset, make_zip({"robin/1.jpg": jpeg(1)}, compression=zipfile.ZIP_BZIP2))

    assert job.report["rejected"] == [
        {
            "filename": "robin/1.jpg",
            "reason": "corrupt",
            "detail": "robin/1.jpg uses a compression method Sightline does not read; "
            "re-create the ZIP with standard (deflate) compression.",
        }
    ]
