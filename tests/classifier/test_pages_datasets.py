"""Dataset pages: list, create, detail (chart data, classes, upload, import, splits, image grid), edit,
delete, and the owner-checked image file and thumbnail views."""

import io
import json
import zipfile

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Count
from django.urls import reverse

from classifier import dataset_page
from classifier.models import Dataset, DatasetImage, LabelClass
from tests.factories import DatasetFactory, DatasetImageFactory, LabelClassFactory, image_bytes
from training_jobs.models import Job

pytestmark = pytest.mark.django_db

Split = DatasetImage.Split


@pytest.fixture
def dataset(user):
    return DatasetFactory(owner=user, name="Birds", description="Garden birds")


@pytest.fixture
def image(dataset):
    return DatasetImageFactory(dataset=dataset, label=LabelClassFactory(dataset=dataset, name="sparrow"))


def _jpeg(name: str, color: tuple[int, int, int]) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, image_bytes(color=color), content_type="image/jpeg")


def _detail(dataset: Dataset) -> str:
    return reverse("classifier:dataset-detail", args=[dataset.pk])


def _page_urls(dataset: Dataset, image: DatasetImage) -> list[str]:
    return [
        reverse("classifier:dataset-detail", args=[dataset.pk]),
        reverse("classifier:dataset-edit", args=[dataset.pk]),
        reverse("classifier:image-file", args=[image.pk]),
        reverse("classifier:image-thumbnail", args=[image.pk]),
    ]


def _write_urls(dataset: Dataset, image: DatasetImage) -> list[str]:
    label = image.label
    return [
        reverse("classifier:dataset-edit", args=[dataset.pk]),
        reverse("classifier:dataset-delete", args=[dataset.pk]),
        reverse("classifier:label-class-create", args=[dataset.pk]),
        reverse("classifier:label-class-delete", args=[dataset.pk, label.pk]),
        reverse("classifier:image-upload", args=[dataset.pk]),
        reverse("classifier:dataset-import", args=[dataset.pk]),
        reverse("classifier:dataset-splits", args=[dataset.pk]),
        reverse("classifier:image-relabel", args=[image.pk]),
        reverse("classifier:image-delete", args=[image.pk]),
    ]


# Access


def test_pages_send_strangers_to_sign_in(client, dataset, image):
    for url in [reverse("classifier:dataset-list"), *_page_urls(dataset, image)]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith(f"{reverse('login')}?next="), url


def test_another_users_objects_are_not_found(client, other_user, dataset, image):
    client.force_login(other_user)

    for url in _page_urls(dataset, image):
        assert client.get(url).status_code == 404, url
    for url in _write_urls(dataset, image):
        assert client.post(url, {"name": "x", "label": "x"}).status_code == 404, url
    assert Dataset.objects.filter(pk=dataset.pk, name="Birds").exists()
    assert DatasetImage.objects.filter(pk=image.pk, label__name="sparrow").exists()


def test_staff_can_view_everyones_datasets_and_images(client, staff_user, dataset, image):
    client.force_login(staff_user)

    assert "Birds" in client.get(reverse("classifier:dataset-list")).text
    for url in _page_urls(dataset, image):
        assert client.get(url).status_code == 200, url


# The forms the dataset page posts, and the tab each one lives on.
FORM_URL_TABS = {
    "label-class-create": "add",
    "image-upload": "add",
    "dataset-import": "add",
    "dataset-splits": "train",
    "dataset-augment": "train",
    "model-version-create": "train",
}


def test_writes_are_post_only(user_client, dataset, image):
    form_urls = {reverse(f"classifier:{name}", args=[dataset.pk]) for name in FORM_URL_TABS}
    for url in _write_urls(dataset, image)[1:]:
        if url not in form_urls:
            assert user_client.get(url).status_code == 405, url
    assert Dataset.objects.filter(pk=dataset.pk).exists()


def test_a_form_address_reloaded_goes_back_to_its_tab(user_client, dataset):
    """A refused form is shown at the address it posted to; reloading that address (a GET) must show the
    page, on the form's tab, not the browser's blank 405."""
    for name, tab in FORM_URL_TABS.items():
        response = user_client.get(reverse(f"classifier:{name}", args=[dataset.pk]))

        assert response.status_code == 302, name
        assert response.url == f"{_detail(dataset)}?tab={tab}", name
    assert not Job.objects.exists()
    assert list(LabelClass.objects.filter(dataset=dataset)) == []


# List and create


def test_dataset_list_shows_only_my_datasets(user_client, dataset, other_user):
    DatasetFactory(owner=other_user, name="Bob's cats")
    DatasetImageFactory(dataset=dataset)

    page = user_client.get(reverse("classifier:dataset-list"))

    assert page.status_code == 200
    assert "Birds" in page.text
    assert "Bob&#x27;s cats" not in page.text
    assert list(page.context["datasets"]) == [dataset]
    assert page.context["datasets"][0].image_count == 1


def test_create_a_dataset_from_the_list_page(user_client, user):
    response = user_client.post(
        reverse("classifier:dataset-create"), {"name": "  Flowers ", "description": "Tulips"}
    )

    dataset = Dataset.objects.get(owner=user)
    assert response.status_code == 302
    assert response.url == _detail(dataset)
    assert (dataset.name, dataset.description) == ("Flowers", "Tulips")
    assert "Dataset &quot;Flowers&quot; created." in user_client.get(response.url).text


def test_create_shows_a_taken_name_on_the_form(user_client, dataset):
    page = user_client.post(reverse("classifier:dataset-create"), {"name": "Birds"})

    assert page.status_code == 200
    assert "You already have a dataset named &quot;Birds&quot;." in page.text
    assert Dataset.objects.filter(name="Birds").count() == 1


def test_create_needs_a_name(user_client, user):
    page = user_client.post(reverse("classifier:dataset-create"), {"name": ""})

    assert "This field is required." in page.text
    assert not Dataset.objects.filter(owner=user).exists()


# Detail


def test_detail_shows_the_class_chart_data_and_the_classes(user_client, dataset):
    sparrow = LabelClassFactory(dataset=dataset, name="sparrow")
    robin = LabelClassFactory(dataset=dataset, name="robin")
    DatasetImageFactory.create_batch(3, dataset=dataset, label=sparrow, split=Split.TRAIN)
    DatasetImageFactory(dataset=dataset, label=sparrow, split=Split.VAL)
    DatasetImageFactory(dataset=dataset, label=robin, split=Split.TEST)
    DatasetImageFactory(dataset=dataset, label=None)

    page = user_client.get(f"{_detail(dataset)}?tab=train")

    assert page.status_code == 200
    assert page.context["chart_data"] == {
        "labels": ["robin", "sparrow"],
        "splits": [
            {"key": "train", "label": "Train", "counts": [0, 3]},
            {"key": "val", "label": "Validation", "counts": [0, 1]},
            {"key": "test", "label": "Test", "counts": [1, 0]},
        ],
    }
    assert 'id="class-chart"' in page.text
    assert 'id="class-chart-data"' in page.text
    assert "/static/vendor/chart.umd.min.js" in page.text
    assert page.context["unlabelled_count"] == 1
    assert page.context["dataset"].image_count == 6


def test_detail_without_classes_has_no_chart(user_client, dataset):
    page = user_client.get(f"{_detail(dataset)}?tab=train")

    assert 'id="class-chart"' not in page.text
    assert "No classes yet." in page.text


def test_image_grid_filters_by_class_and_split(user_client, dataset):
    sparrow = LabelClassFactory(dataset=dataset, name="sparrow")
    robin = LabelClassFactory(dataset=dataset, name="robin")
    sparrow_train = DatasetImageFactory(dataset=dataset, label=sparrow, split=Split.TRAIN)
    sparrow_test = DatasetImageFactory(dataset=dataset, label=sparrow, split=Split.TEST)
    robin_train = DatasetImageFactory(dataset=dataset, label=robin, split=Split.TRAIN)
    unlabelled = DatasetImageFactory(dataset=dataset, label=None, split=Split.TRAIN)

    def shown(query: str) -> set[int]:
        return {image.pk for image in user_client.get(f"{_detail(dataset)}?{query}").context["page_obj"]}

    assert shown("") == {sparrow_train.pk, sparrow_test.pk, robin_train.pk, unlabelled.pk}
    assert shown("label=sparrow") == {sparrow_train.pk, sparrow_test.pk}
    assert shown("label=sparrow&split=test") == {sparrow_test.pk}
    assert shown("split=train") == {sparrow_train.pk, robin_train.pk, unlabelled.pk}
    assert shown("label=-") == {unlabelled.pk}
    # An unknown filter value is ignored rather than answered with an error.
    assert len(shown("label=eagle")) == 4


def test_image_grid_is_paginated_and_keeps_its_filters(user_client, dataset, monkeypatch):
    monkeypatch.setattr(dataset_page, "IMAGES_PER_PAGE", 2)
    sparrow = LabelClassFactory(dataset=dataset, name="sparrow")
    DatasetImageFactory.create_batch(3, dataset=dataset, label=sparrow)
    DatasetImageFactory(dataset=dataset, label=None)

    first = user_client.get(f"{_detail(dataset)}?tab=images&label=sparrow")
    second = user_client.get(f"{_detail(dataset)}?tab=images&label=sparrow&page=2")

    assert len(first.context["page_obj"]) == 2
    assert len(second.context["page_obj"]) == 1
    assert "?tab=images&amp;label=sparrow&amp;page=2" in first.text
    thumbnail_url = reverse("classifier:image-thumbnail", args=[second.context["page_obj"][0].pk])
    assert f'src="{thumbnail_url}"' in second.text


# Classes


def test_add_a_class(user_client, dataset):
    response = user_client.post(reverse("classifier:label-class-create", args=[dataset.pk]), {"name": "wren"})

    assert response.status_code == 302
    assert list(dataset.classes.values_list("name", flat=True)) == ["wren"]


def test_add_a_class_needs_a_name(user_client, dataset):
    page = user_client.post(reverse("classifier:label-class-create", args=[dataset.pk]), {"name": "   "})

    assert page.status_code == 200
    assert "This field is required." in page.text
    assert not dataset.classes.exists()


def test_delete_a_class_keeps_its_images_unlabelled(user_client, dataset, image):
    response = user_client.post(reverse("classifier:label-class-delete", args=[dataset.pk, image.label_id]))

    assert response.status_code == 302
    assert not LabelClass.objects.filter(dataset=dataset).exists()
    image.refresh_from_db()
    assert image.label is None


# Upload


def test_upload_through_the_page_stores_images_and_reports_each_file(user_client, dataset):
    red = image_bytes(color=(220, 20, 20))
    files = [
        SimpleUploadedFile("red.jpg", red, content_type="image/jpeg"),
        _jpeg("blue.jpg", (20, 20, 220)),
        SimpleUploadedFile("red-again.jpg", red, content_type="image/jpeg"),
        SimpleUploadedFile("notes.txt", b"not a picture", content_type="text/plain"),
    ]

    response = user_client.post(
        reverse("classifier:image-upload", args=[dataset.pk]), {"files": files, "label": "cardinal"}
    )

    assert response.status_code == 302
    assert response.url == f"{_detail(dataset)}?tab=add#upload-result"
    stored = DatasetImage.objects.filter(dataset=dataset)
    assert sorted(stored.values_list("original_name", flat=True)) == ["blue.jpg", "red.jpg"]
    assert {image.label.name for image in stored} == {"cardinal"}
    for image in stored:
        assert default_storage.exists(image.file.name)
        assert default_storage.exists(image.thumbnail.name)

    page = user_client.get(response.url)
    result = page.context["upload_result"]
    counts = dict(result["counts"])
    assert (counts["Imported"], counts["Duplicate"]) == (2, 1)
    # Which reason a text file gets is the imaging service's call (tested there); the page shows it.
    assert sum(counts.values()) == 4
    assert sorted(result["imported"]) == ["blue.jpg", "red.jpg"]
    reasons = {row["filename"]: row["reason"] for row in result["rejected"]}
    assert set(reasons) == {"red-again.jpg", "notes.txt"}
    assert reasons["red-again.jpg"] == "Duplicate"
    assert "Upload result" in page.text
    for row in result["rejected"]:
        assert row["filename"] in page.text
        assert row["reason"] in page.text
    # The result is shown once, not on every later visit.
    assert user_client.get(response.url).context["upload_result"] is None


def test_upload_needs_at_least_one_file(user_client, dataset):
    page = user_client.post(reverse("classifier:image-upload", args=[dataset.pk]), {"label": "cardinal"})

    assert page.status_code == 200
    assert "This field is required." in page.text
    assert not DatasetImage.objects.exists()


def test_upload_shows_a_refused_class_name(user_client, dataset):
    page = user_client.post(
        reverse("classifier:image-upload", args=[dataset.pk]),
        {"files": [_jpeg("a.jpg", (1, 2, 3))], "label": "x" * 201},
    )

    assert page.status_code == 200
    assert "Ensure this value has at most 200 characters" in page.text
    assert not DatasetImage.objects.exists()


# Import


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_import_starts_a_job_and_shows_its_report(user_client, dataset, django_capture_on_commit_callbacks):
    archive = _zip(
        {
            "sparrow/1.jpg": image_bytes(color=(10, 10, 10)),
            "robin/2.jpg": image_bytes(color=(200, 10, 10)),
            "robin/broken.jpg": b"\xff\xd8 not really",
        }
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = user_client.post(
            reverse("classifier:dataset-import", args=[dataset.pk]),
            {"archive": SimpleUploadedFile("birds.zip", archive, content_type="application/zip")},
        )

    job = Job.objects.get(dataset=dataset)
    assert response.status_code == 302
    assert response.url == reverse("training_jobs:job-detail", args=[job.pk])
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert DatasetImage.objects.filter(dataset=dataset).count() == 2

    page = user_client.get(response.url)
    assert "robin/broken.jpg" in page.text
    assert ("Imported", 2) in page.context["counts"]


def test_import_refuses_a_file_that_is_not_a_zip(user_client, dataset):
    page = user_client.post(
        reverse("classifier:dataset-import", args=[dataset.pk]),
        {"archive": SimpleUploadedFile("birds.zip", b"plain text", content_type="application/zip")},
    )

    assert page.status_code == 200
    assert "birds.zip is not a ZIP archive." in page.text
    assert not Job.objects.exists()


def test_import_checks_the_labels_csv_columns(user_client, dataset):
    page = user_client.post(
        reverse("classifier:dataset-import", args=[dataset.pk]),
        {
            "archive": SimpleUploadedFile("birds.zip", _zip({"a.jpg": image_bytes()})),
            "labels": SimpleUploadedFile("labels.csv", b"name,class\na.jpg,sparrow\n"),
        },
    )

    assert page.status_code == 200
    assert "The labels CSV needs the columns filename and label" in page.text
    assert not Job.objects.exists()


# Splits


def test_reassign_splits_saves_the_settings(user_client, dataset):
    sparrow = LabelClassFactory(dataset=dataset, name="sparrow")
    DatasetImageFactory.create_batch(10, dataset=dataset, label=sparrow)

    response = user_client.post(
        reverse("classifier:dataset-splits", args=[dataset.pk]),
        {"val_fraction": "0.2", "test_fraction": "0.3", "seed": "7"},
        follow=True,
    )

    dataset.refresh_from_db()
    assert (dataset.val_fraction, dataset.test_fraction, dataset.split_seed) == (0.2, 0.3, 7)
    counts = dict(dataset.images.values_list("split").annotate(n=Count("id")))
    assert counts == {"train": 5, "val": 2, "test": 3}
    assert "Splits reassigned: 5 train, 2 validation, 3 test." in response.text


def test_split_fractions_must_leave_images_to_train_on(user_client, dataset):
    page = user_client.post(
        reverse("classifier:dataset-splits", args=[dataset.pk]),
        {"val_fraction": "0.6", "test_fraction": "0.5", "seed": "0"},
    )

    assert page.status_code == 200
    assert "must leave images for training" in page.text
    dataset.refresh_from_db()
    assert dataset.val_fraction == 0.1


# Relabel and delete images


def test_relabel_an_image_and_return_to_the_same_grid_page(user_client, dataset, image):
    robin = LabelClassFactory(dataset=dataset, name="robin")
    back_to = f"{_detail(dataset)}?split=train&page=1"

    response = user_client.post(
        reverse("classifier:image-relabel", args=[image.pk]), {"label": "robin", "next": back_to}
    )

    assert response.status_code == 302
    # Back on the same page of the grid, at the picture that changed.
    assert response.url == f"{back_to}#image-{image.pk}"
    image.refresh_from_db()
    assert image.label == robin


def test_relabel_in_place_answers_json_to_the_gallery_script(user_client, dataset, image):
    robin = LabelClassFactory(dataset=dataset, name="robin")

    response = user_client.post(
        reverse("classifier:image-relabel", args=[image.pk]), {"label": "robin"}, headers={"Accept": "application/json"}
    )

    assert response.status_code == 200
    assert response.json() == {"ok": True, "message": f'"{image}" is now class "robin".', "label": "robin"}
    image.refresh_from_db()
    assert image.label == robin


def test_relabel_in_place_refused_says_why_and_changes_nothing(user_client, dataset, image):
    response = user_client.post(
        reverse("classifier:image-relabel", args=[image.pk]),
        {"label": "x" * 300},
        headers={"Accept": "application/json"},
    )

    assert response.status_code == 400
    assert response.json()["ok"] is False
    assert response.json()["label"] == "sparrow"
    image.refresh_from_db()
    assert image.label.name == "sparrow"
    assert list(dataset.classes.values_list("name", flat=True)) == ["sparrow"]


def test_delete_in_place_answers_json(user_client, dataset, image, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = user_client.post(
            reverse("classifier:image-delete", args=[image.pk]), headers={"Accept": "application/json"}
        )

    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert not DatasetImage.objects.filter(pk=image.pk).exists()


def test_relabel_to_unlabelled(user_client, dataset, image):
    user_client.post(reverse("classifier:image-relabel", args=[image.pk]), {"label": ""})

    image.refresh_from_db()
    assert image.label is None


def test_relabel_never_redirects_off_site(user_client, dataset, image):
    response = user_client.post(
        reverse("classifier:image-relabel", args=[image.pk]),
        {"label": "robin", "next": "https://evil.example/"},
    )

    assert response.url == f"{_detail(dataset)}?tab=images#image-{image.pk}"


def test_delete_an_image(user_client, dataset, image, django_capture_on_commit_callbacks):
    name = image.file.name

    with django_capture_on_commit_callbacks(execute=True):
        response = user_client.post(reverse("classifier:image-delete", args=[image.pk]))

    assert response.status_code == 302
    assert not DatasetImage.objects.filter(pk=image.pk).exists()
    assert not default_storage.exists(name)


# Edit and delete datasets


def test_edit_a_dataset(user_client, dataset):
    url = reverse("classifier:dataset-edit", args=[dataset.pk])
    assert 'value="Birds"' in user_client.get(url).text

    response = user_client.post(url, {"name": "Wild birds", "description": "Seen outside"})

    assert response.status_code == 302
    dataset.refresh_from_db()
    assert (dataset.name, dataset.description) == ("Wild birds", "Seen outside")


def test_edit_shows_a_taken_name(user_client, user, dataset):
    DatasetFactory(owner=user, name="Cats")

    page = user_client.post(reverse("classifier:dataset-edit", args=[dataset.pk]), {"name": "Cats"})

    assert page.status_code == 200
    assert "You already have a dataset named &quot;Cats&quot;." in page.text
    dataset.refresh_from_db()
    assert dataset.name == "Birds"


def test_delete_a_dataset(user_client, dataset, image):
    response = user_client.post(reverse("classifier:dataset-delete", args=[dataset.pk]))

    assert response.status_code == 302
    assert response.url == reverse("classifier:dataset-list")
    assert not Dataset.objects.filter(pk=dataset.pk).exists()


# Image files


def test_image_file_streams_the_bytes_to_the_owner(user_client, image):
    response = user_client.get(reverse("classifier:image-file", args=[image.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content) == default_storage.open(image.file.name).read()
    assert "private" in response["Cache-Control"]


def test_thumbnail_falls_back_to_the_file_when_none_was_made(user_client, image):
    response = user_client.get(reverse("classifier:image-thumbnail", args=[image.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"


def test_thumbnail_of_an_uploaded_image(user_client, dataset):
    user_client.post(
        reverse("classifier:image-upload", args=[dataset.pk]), {"files": [_jpeg("a.jpg", (5, 6, 7))]}
    )
    uploaded = DatasetImage.objects.get(dataset=dataset)

    response = user_client.get(reverse("classifier:image-thumbnail", args=[uploaded.pk]))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == default_storage.open(uploaded.thumbnail.name).read()
    assert "private" in response["Cache-Control"]


def test_a_file_missing_from_storage_is_not_found(user_client, image):
    default_storage.delete(image.file.name)

    assert user_client.get(reverse("classifier:image-file", args=[image.pk])).status_code == 404


def test_chart_data_is_valid_json_in_the_page(user_client, dataset, image):
    page = user_client.get(f"{_detail(dataset)}?tab=train").text
    start = page.index('id="class-chart-data" type="application/json">') + len(
        'id="class-chart-data" type="application/json">'
    )

    data = json.loads(page[start : page.index("</script>", start)])

    assert data["labels"] == ["sparrow"]


def test_a_long_dataset_name_keeps_to_its_card_with_the_whole_name_in_its_title(user_client, user):
    name = "Birds-of-the-northern-hemisphere-photographed-at-the-feeder-" * 3
    dataset = DatasetFactory(owner=user, name=name.strip("-"))
    LabelClassFactory(dataset=dataset, name="great-spotted-woodpecker-juvenile-plumage")

    page = user_client.get(reverse("classifier:dataset-list"))

    # The stylesheet cuts the card's title to two lines and breaks long words; the title shows it whole.
    assert f'<h2 class="dataset-card-title" title="{dataset.name}">' in page.text
    assert 'title="great-spotted-woodpecker-juvenile-plumage"' in page.text
