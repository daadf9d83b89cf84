"""A prediction answered now: its history row written in one round trip, committed without waiting for the disk.

The client waits for this row (its id is in the answer), so two costs matter more here than anywhere:

- A durable commit is an fsync: milliseconds, more than the rest of the request's database work, and
  under load the commits queue for the disk. Committed asynchronously (``synchronous_commit`` off for
  this transaction only), the row is visible to every session at once and on disk within PostgreSQL's
  wal_writer_delay (200 ms) a few times over; only a database crash inside that window loses it, and
  its stored image then becomes an orphan the sweep deletes.
- The ORM compiles its INSERT on every call, which takes longer than PostgreSQL takes to run it. The
  statement here is built once from the model's own fields (and prepared once per connection), and each
  value goes through its field's ``pre_save`` and ``get_db_prep_save`` as the ORM's insert does.

Other databases (SQLite in development) take the ORM's ordinary insert.
"""

from collections.abc import Callable
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Field

from classifier.models import Prediction
from webapp.prepared_statements import prepared_execute

# Prepared once per connection (webapp.prepared_statements): parsed and planned once, not per answer.
_PREPARED = "sightline_history_row"


def _quoted_column(field: Field[Any, Any], quote: Callable[[str], str]) -> str:
    if field.column is None:
        raise TypeError(f"Prediction.{field.name} is not a column.")
    return quote(field.column)


@cache
def _insert(vendor: str) -> tuple[str, list[Field[Any, Any]]]:
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    meta = Prediction._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    columns = ", ".join(_quoted_column(field, quote) for field in fields)
    values = ", ".join(["%s"] * len(fields))
    # Identifiers from the model's meta, quoted; every value is a parameter.
    table, key = quote(meta.db_table), _quoted_column(meta.pk, quote)
    return f"INSERT INTO {table} ({columns}) VALUES ({values}) RETURNING {key}", fields  # noqa: S608


def history_row_insert(prediction: Prediction) -> Prediction:
    """Insert the unsaved ``prediction``, committed without waiting for the disk when it is a transaction
    of its own; inside a caller's transaction it is an ordinary insert (``SET LOCAL`` would reach the
    caller's other writes)."""
    # The connection itself, not the proxy ``django.db.connection``: every attribute read through the proxy
    # looks the connection up again (a context-local lookup), and preparing the values reads it dozens of times.
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql":
        prediction.save(force_insert=True)
        return prediction
    sql, fields = _insert(connection.vendor)
    values = [field.get_db_prep_save(field.pre_save(prediction, True), connection) for field in fields]
    if connection.in_atomic_block:
        with connection.cursor() as cursor:
            prepared_execute(cursor, connection, name=_PREPARED, sql=sql, params=values)
            prediction.pk = cursor.fetchone()[0]
    elif getattr(getattr(connection, "Database", None), "__name__", "") == "psycopg2":  # the backend's driver
        # One simple query of two statements runs as one implicit transaction, so SET LOCAL applies to it;
        # psycopg2 hands back the last statement's rows.
        with connection.cursor() as cursor:
            prefix = "SET LOCAL synchronous_commit TO OFF; "
            prepared_execute(cursor, connection, name=_PREPARED, sql=sql, params=values, prefix=prefix)
            prediction.pk = cursor.fetchone()[0]
    else:
        # psycopg 3 answers the first statement's results first (and refuses two with server-side
        # binding): the same transaction in four round trips.
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
            prepared_execute(cursor, connection, name=_PREPARED, sql=sql, params=values)
            prediction.pk = cursor.fetchone()[0]
    prediction._state.adding = False
    prediction._state.db = connection.alias
    return prediction
