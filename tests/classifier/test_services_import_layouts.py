"""ZIP imports that work: starting one, folder layouts, CSV labels, and everyday pictures."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from classifier.models import DatasetImage
from classifier.services.imports import dataset_import_start
from tests.classifier.import_support import NOTHING_REJECTED, jpeg, make_zip, stored_files
from tests.classifier.test_services_imaging import mode_samples, rotated_jpeg
from tests.factories import DatasetFactory, image_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(user):
    return DatasetFactory(owner=user)


def test_start_stores_the_upload_and_queues_the_job(dataset, user, settings, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        job = dataset_import_start(
            dataset=dataset,
            requested_by=user,
            archive=SimpleUploadedFile("birds.zip", make_zip({"robin/1.jpg": jpeg(1)})),
            labels=SimpleUploadedFile("labels.csv", b"filename,label\n1.jpg,robin\n"),
        )

    assert (job.kind, job.status, job.dataset, job.requested_by) == ("import", "queued", dataset, user)
    assert job.params["archive_filename"] == "birds.zip"
    assert job.params["archive"].startswith("imports/") and job.params["archive"].endswith(".zip")
    assert job.params["labels"] == job.params["archive"].replace(".zip", ".csv")
    assert stored_files(settings) == sorted([job.params["archive"], job.params["labels"]])
    assert len(callbacks) == 1


def test_folder_import_labels_images_by_their_folder(dataset, run_import, settings):
    archive = make_zip(
        {
            "birds/": b"",
            "birds/sparrow/": b"",
            "birds/sparrow/1.jpg": jpeg(1),
            "birds/sparrow/2.png": image_bytes(color=(2, 2, 2), fmt="PNG"),
            "birds/robin/1.jpg": jpeg(3),
            # What macOS and Windows add to archives; skipped without a word.
            "__MACOSX/birds/sparrow/._1.jpg": b"resource fork",
            "birds/.DS_Store": b"finder",
            "birds/robin/Thumbs.db": b"thumbs",
        }
    )

    job = run_import(dataset, archive)

    assert (job.status, job.message, job.error) == ("succeeded", "Imported 3 of 3 files", "")
    assert job.report == {
        "imported": 3,
        **NOTHING_REJECTED,
        "total": 3,
        "rejected": [],
        "classes": {"sparrow": 2, "robin": 1},
    }
    images = DatasetImage.objects.filter(dataset=dataset)
    assert sorted(images.values_list("original_name", "label__name", "origin")) == [
        ("birds/robin/1.jpg", "robin", "import"),
        ("birds/sparrow/1.jpg", "sparrow", "import"),
        ("birds/sparrow/2.png", "sparrow", "import"),
    ]
    # The stored archive is gone; only the images and their thumbnails remain.
    assert all(name.startswith(f"datasets/{dataset.id}/") for name in stored_files(settings))
    assert len(stored_files(settings)) == 6


def test_a_single_folder_of_files_is_one_class(dataset, run_import):
    job = run_import(dataset, make_zip({"sparrow/1.jpg": jpeg(1), "sparrow/2.jpg": jpeg(2)}))

    assert job.report["classes"] == {"sparrow": 2}


def test_files_outside_a_class_folder_are_unlabelled(dataset, run_import):
    job = run_import(dataset, make_zip({"loose.jpg": jpeg(1), "robin/1.jpg": jpeg(2)}))

    assert job.report["unlabelled"] == 1
    assert job.report["rejected"] == [
        {
            "filename": "loose.jpg",
            "reason": "unlabelled",
            "detail": "loose.jpg is not in a class folder; put each class's images in a folder named after the class.",
        }
    ]


def test_csv_labels_match_member_paths_or_file_names(dataset, run_import):
    archive = make_zip(
        {
            "images/1.jpg": jpeg(1),
            "images/2.jpg": jpeg(2),
            "images/3.jpg": jpeg(3),
            "images/4.jpg": jpeg(4),
            "robin/5.jpg": jpeg(5),
        }
    )
    labels = b"filename,label\n1.jpg,sparrow\nimages/2.jpg,robin\n3.jpg,\ngone.jpg,sparrow\nrobin/5.jpg,robin\n"

    job = run_import(dataset, archive, labels)

    assert (job.status, job.message) == ("succeeded", "Imported 3 of 5 files")
    report = job.report
    assert (report["imported"], report["unlabelled"], report["missing"], report["total"]) == (3, 2, 1, 5)
    assert report["classes"] == {"sparrow": 1, "robin": 2}
    assert report["rejected"] == [
        {
            "filename": "images/3.jpg",
            "reason": "unlabelled",
            "detail": "images/3.jpg has an empty label in the labels CSV.",
        },
        {
            "filename": "images/4.jpg",
            "reason": "unlabelled",
            "detail": "images/4.jpg is not in the labels CSV.",
        },
        {
            "filename": "gone.jpg",
            "reason": "missing",
            "detail": "gone.jpg is in the labels CSV but not in the archive.",
        },
    ]


def test_csv_saved_by_excel_with_bom_and_capitalised_headers_is_read(dataset, run_import):
    labels = "\ufeffFilename,Label,Notes\r\nbirds/1.jpg,heron,tall\r\n".encode()

    job = run_import(dataset, make_zip({"birds/1.jpg": jpeg(1)}), labels)

    assert job.report["classes"] == {"heron": 1}


def test_everyday_non_rgb_and_rotated_images_import(dataset, run_import):
    members = {f"mixed/{name}": content for name, content in {**mode_samples(), "phone.jpg": rotated_jpeg()}.items()}

    job = run_import(dataset, make_zip(members))

    assert job.report["imported"] == len(members)
    assert DatasetImage.objects.get(original_name="mixed/phone.jpg").width == 20
