"""A prediction's history row written in one round trip (classifier.services.history_rows) holds what the
ORM's insert would, and commits without waiting for the disk only in a transaction of its own."""

import pytest
from django.db import connection, transaction

from classifier.models import Prediction
from classifier.services.history_rows import history_row_insert
from tests.factories import DatasetFactory, UserFactory


def _fields(prediction: Prediction) -> dict:
    return {
        field.attname: getattr(prediction, field.attname)
        for field in Prediction._meta.concrete_fields
        if field.attname not in {"id", "created_at"}
    }


def _new(user, version) -> Prediction:
    return Prediction(
        owner_id=user.id,
        model_version=version,
        image="predictions/1/a.png",
        status=Prediction.Status.SUCCEEDED,
        top_k=2,
        results=[{"label": "red", "probability": 0.9}, {"label": "green", "probability": 0.1}],
        details={"threshold": 0.5, "filename": "é.png"},
        is_unknown=False,
        unknown_score=0.25,
        latency_ms=3.5,
    )


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_the_row_holds_what_the_orm_would_write(make_ready_version):
    user = UserFactory(username="alice")
    version = make_ready_version(DatasetFactory(owner=user, name="Colours"))

    inserted = history_row_insert(_new(user, version))
    orm = _new(user, version)
    orm.save()

    stored, expected = Prediction.objects.get(id=inserted.id), Prediction.objects.get(id=orm.id)
    assert inserted.pk is not None and inserted._state.adding is False
    assert _fields(stored) == _fields(expected)
    assert stored.created_at is not None and inserted.created_at == stored.created_at
    if connection.vendor == "postgresql":
        # SET LOCAL ended with the row's own transaction: the session commits durably again.
        assert _synchronous_commit() == "on"


@pytest.mark.django_db(transaction=True)
def test_inside_a_callers_transaction_it_is_an_ordinary_insert(make_ready_version):
    user = UserFactory(username="alice")
    version = make_ready_version(DatasetFactory(owner=user, name="Colours"))

    with transaction.atomic():
        inserted = history_row_insert(_new(user, version))
        if connection.vendor == "postgresql":
            assert _synchronous_commit() == "on"

    assert Prediction.objects.filter(id=inserted.id).exists()
