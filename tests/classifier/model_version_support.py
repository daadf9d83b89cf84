"""Rows for the model-versions API tests: trainable datasets, ready versions made without training, and
the metrics and calibration figures training would store."""

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from classifier.ml.config import TrainingConfig
from classifier.models import DatasetImage, ModelVersion
from tests.factories import DatasetFactory, DatasetImageFactory, LabelClassFactory

Split = DatasetImage.Split
Status = ModelVersion.Status


def add_class(dataset, name, splits=(Split.TRAIN, Split.VAL)):
    label = LabelClassFactory(dataset=dataset, name=name)
    for split in splits:
        DatasetImageFactory(dataset=dataset, label=label, split=split)
    return label


def trainable_dataset(owner, classes=("robin", "wren"), name="Garden birds"):
    """Each class with one training and one validation image: the least a version can be trained on."""
    dataset = DatasetFactory(owner=owner, name=name)
    for class_name in classes:
        add_class(dataset, class_name)
    return dataset


def version_row(dataset, number=1, **fields):
    """A version row as training would leave it, without training anything."""
    values = {
        "backbone": "mobilenet_v2",
        "image_size": 224,
        "status": Status.READY,
        "class_names": ["robin", "wren"],
        "hyperparameters": TrainingConfig(image_size=224, epochs=7).to_dict(),
        "created_by": dataset.owner,
        **fields,
    }
    return ModelVersion.objects.create(dataset=dataset, number=number, **values)


def start_training(client, dataset, data):
    return client.post(f"/api/v1/datasets/{dataset.id}/model-versions/", data, format="json")


def store_file(name, content=b"model bytes"):
    return default_storage.save(name, ContentFile(content))
