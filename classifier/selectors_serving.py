"""The predict endpoint's one lookup: a token's user and the model version it asks for, in one query.

``POST /api/v1/model-versions/{id}/predict/`` is the busiest request. Through DRF it costs two ORM
queries before a pixel is read (the token with its user, then the version through
``model_versions_usable_by``), and compiling them takes longer than running them. This is the same
rule written once as SQL over the models' own tables and columns:

- the token exists and its user is active (DRF's ``TokenAuthentication``);
- the version's dataset is the user's own or public, or the user is staff (``model_versions_usable_by``).

``tests/classifier/test_selectors_serving.py`` checks it against those two for every case, so the rule
stays one rule. Anything it does not find falls back to the DRF view, which answers 401 or 404.
"""

import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model
from django.db.models.expressions import Col
from rest_framework.authtoken.models import Token

from classifier.models import Dataset, ModelVersion
from webapp.prepared_statements import prepared_execute

# What answering needs from a version (services.serving, services.quantization); the large evaluation
# fields (metrics, most_confused, history in plan) stay in the database. Its class names come from
# ``_class_names`` below.
SERVING_FIELDS = (
    "id",
    "dataset_id",
    "number",
    "status",
    "image_size",
    "hyperparameters",
    "calibration",
    "quantization",
    "tflite_file",
    "tflite_int8_file",
    "unknown_file",
)
_DATASET_FIELDS = ("id", "name", "owner_id", "is_public")


@dataclass(frozen=True)
class TokenVersion:
    user_id: int
    version: ModelVersion  # with its dataset; only SERVING_FIELDS loaded


def _fields(model: type[Model], names: tuple[str, ...]) -> list[Field[Any, Any]]:
    """The named columns in the model's own order, as ``Model.from_db`` takes them."""
    return [field for field in model._meta.concrete_fields if field.attname in names]


def _column(model: type[Model], name: str, alias: str) -> str:
    field = model._meta.get_field(name)
    if not isinstance(field, Field) or field.column is None:
        raise TypeError(f"{model.__name__}.{name} is not a column.")
    return f"{alias}.{connection.ops.quote_name(field.column)}"


@cache
def _query() -> str:
    quote = connection.ops.quote_name
    user = get_user_model()

    def table(model: type[Model]) -> str:
        return quote(model._meta.db_table)

    selected = ", ".join(
        [_column(user, "id", "u")]
        + [_column(ModelVersion, field.name, "v") for field in _fields(ModelVersion, SERVING_FIELDS)]
        + [_column(Dataset, field.name, "d") for field in _fields(Dataset, _DATASET_FIELDS)]
    )
    # Identifiers from the models' meta, quoted; the version id and the token key are parameters.
    return (
        f"SELECT {selected} FROM {table(Token)} t "  # noqa: S608
        f"JOIN {table(user)} u ON {_column(user, 'id', 'u')} = {_column(Token, 'user', 't')} "
        f"JOIN {table(ModelVersion)} v ON {_column(ModelVersion, 'id', 'v')} = %s "
        f"JOIN {table(Dataset)} d ON {_column(Dataset, 'id', 'd')} = {_column(ModelVersion, 'dataset', 'v')} "
        f"WHERE {_column(Token, 'key', 't')} = %s AND {_column(user, 'is_active', 'u')} "
        f"AND ({_column(user, 'is_staff', 'u')} OR {_column(Dataset, 'owner', 'd')} = {_column(user, 'id', 'u')} "
        f"OR {_column(Dataset, 'is_public', 'd')})"
    )


def model_version_usable_with_token(*, token_key: str, version_id: int) -> TokenVersion | None:
    """The token's user and the version, when the token is valid and the user may use the version;
    else None (the caller answers through DRF, which says which)."""
    # The connection itself, not the proxy: each read through ``django.db.connection`` looks it up again.
    database = connections[DEFAULT_DB_ALIAS]
    with database.cursor() as cursor:
        prepared_execute(cursor, database, name="sightline_token_version", sql=_query(), params=[version_id, token_key])
        row = cursor.fetchone()
    if row is None:
        return None
    version_loader, dataset_loader = _loader(ModelVersion, SERVING_FIELDS), _loader(Dataset, _DATASET_FIELDS)
    split = 1 + len(version_loader.names)
    version = version_loader.load(database, row[1:split])
    version.dataset = dataset_loader.load(database, row[split:])
    version.class_names = _class_names(version)
    return TokenVersion(user_id=row[0], version=version)


# Per process: (version id, its TFLite file's name) → its class names. A version's classes are fixed when
# its model is stored (a new training stores a new file), and an ImageNet version's thousand names are
# ~25 KB of JSON that PostgreSQL would render and this process parse on every request.
_CLASS_NAMES: OrderedDict[tuple[int, str], list[str]] = OrderedDict()
_CLASS_NAMES_KEPT = 256
_class_names_lock = threading.Lock()


def _class_names(version: ModelVersion) -> list[str]:
    key = (version.id, version.tflite_file.name or "")
    with _class_names_lock:
        if key in _CLASS_NAMES:
            _CLASS_NAMES.move_to_end(key)
            return list(_CLASS_NAMES[key])
    names = list(ModelVersion.objects.filter(id=version.id).values_list("class_names", flat=True).first() or [])
    if key[1]:
        # A version without a model (not trained yet) is not kept: it gets its classes when it is stored.
        with _class_names_lock:
            _CLASS_NAMES[key] = names
            while len(_CLASS_NAMES) > _CLASS_NAMES_KEPT:
                _CLASS_NAMES.popitem(last=False)
    return list(names)


@dataclass(frozen=True)
class _Loader:
    """Makes a model instance from its columns' values as the ORM does: through the database's and the
    field's converters (JSON decoded, SQLite's 0/1 as booleans), with the other fields deferred."""

    model: type[Model]
    names: list[str]
    fields: list[Field[Any, Any]]

    def load(self, database: BaseDatabaseWrapper, values: tuple[Any, ...]) -> Any:
        loaded = []
        for field, value in zip(self.fields, values, strict=True):
            expression = Col("_", field)
            for converter in database.ops.get_db_converters(expression) + field.get_db_converters(database):
                value = converter(value, expression, database)
            loaded.append(value)
        return self.model.from_db(database.alias, self.names, loaded)


@cache
def _loader(model: type[Model], names: tuple[str, ...]) -> _Loader:
    fields = _fields(model, names)
    return _Loader(model, [field.attname for field in fields], fields)
