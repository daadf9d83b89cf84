"""factory_boy factories for the rows most tests need, and a helper that makes real image bytes."""

import hashlib
import io

import factory
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from PIL import Image

from classifier.models import Dataset, DatasetImage, LabelClass
from training_jobs.models import Job


def image_bytes(color=(200, 30, 30), size=(32, 32), fmt="JPEG") -> bytes:
    """A small real image, so decoding, hashing and thumbnails are exercised for real."""
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=fmt)
    return buffer.getvalue()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):  # noqa: N805 - factory_boy's signature
        if create:
            obj.save()


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dataset

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"dataset {n}")


class LabelClassFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LabelClass

    dataset = factory.SubFactory(DatasetFactory)
    name = factory.Sequence(lambda n: f"class{n}")


class DatasetImageFactory(factory.django.DjangoModelFactory):
    """An image row with a real stored file; colour varies per row so hashes differ."""

    class Meta:
        model = DatasetImage

    dataset = factory.SubFactory(DatasetFactory)
    label = factory.SubFactory(LabelClassFactory, dataset=factory.SelfAttribute("..dataset"))
    width = 32
    height = 32
    origin = DatasetImage.Origin.UPLOAD
    split = DatasetImage.Split.TRAIN

    class Params:
        content = factory.Sequence(lambda n: image_bytes(color=(n % 256, (n * 7) % 256, (n * 13) % 256)))

    sha256 = factory.LazyAttribute(lambda o: hashlib.sha256(o.content).hexdigest())
    # Stored where the services store images, so folder-level deletion is exercised for real.
    file = factory.LazyAttribute(lambda o: ContentFile(o.content, name=f"datasets/{o.dataset.id}/{o.sha256}.jpg"))
    original_name = factory.LazyAttribute(lambda o: f"{o.sha256[:8]}.jpg")


class JobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Job

    kind = Job.Kind.IMPORT
    requested_by = factory.SubFactory(UserFactory)
    dataset = factory.SubFactory(DatasetFactory, owner=factory.SelfAttribute("..requested_by"))
