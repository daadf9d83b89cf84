"""Statements PostgreSQL parses and plans once per connection instead of on every request.

Why: the predict endpoint's lookup (a four-table join, ``classifier.selectors_serving``) spent as long in
PostgreSQL's planner as in running it; prepared, the round trip took 0.15–0.23 ms instead of 0.30–0.42 ms
in one process. Used for the endpoint's two statements only, each built once from the models' meta.

A statement is prepared on a connection the first time it runs there (PREPARE outlives the transaction it
was made in and lasts as long as the connection's session). A pooler that moves a client between server
sessions (PgBouncer's transaction pooling) would lose them: ``SIGHTLINE_DB_PREPARED_STATEMENTS=false``
runs the plain statements. A statement that went missing anyway (a ``DISCARD ALL``) is prepared again
and run once more, outside a transaction; inside one, the error is the caller's, as any database error,
and the statement is prepared again on its next run. So is one whose result columns a migration changed
under a running process ("cached plan must not change result type").
Other databases (SQLite in development) run the plain statement.
"""

import re
import weakref
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper
from django.db.utils import DatabaseError

_NAME = re.compile(r"sightline_[a-z_]{1,50}")
# Errors after which a statement is prepared again: 26000, "prepared statement ... does not exist" (the
# session lost it), and 0A000, "cached plan must not change result type" (a migration changed a column it
# returns while this process kept its connection).
_PREPARE_AGAIN = {"26000", "0A000"}
# Per database wrapper (one per thread and alias): the DB-API connection the names were prepared on, and
# the names. A new connection (Django reconnects after CONN_MAX_AGE or an error) starts with none.
_prepared: "weakref.WeakKeyDictionary[BaseDatabaseWrapper, tuple[object, set[str]]]" = weakref.WeakKeyDictionary()


def prepared_execute(
    cursor: CursorWrapper,
    database: BaseDatabaseWrapper,
    *,
    name: str,
    sql: str,
    params: Sequence[Any],
    prefix: str = "",
) -> None:
    """Run ``prefix`` then ``sql`` (``%s`` placeholders, one per parameter, no other ``%``) with ``params``,
    ``sql`` as the prepared statement ``name`` on PostgreSQL. ``prefix``: statements sent in the same
    simple query before it (they share its implicit transaction), e.g. ``SET LOCAL …; ``."""
    if database.vendor != "postgresql" or not settings.SIGHTLINE_DB_PREPARED_STATEMENTS:
        cursor.execute(prefix + sql, params)
        return
    if not _NAME.fullmatch(name):
        raise ValueError(f"a prepared statement's name is sightline_ and lower-case letters; got {name!r}")
    execute = f"{prefix}EXECUTE {name} ({', '.join(['%s'] * len(params))})" if params else f"{prefix}EXECUTE {name}"
    _prepare(cursor, database, name=name, sql=sql, count=len(params))
    try:
        cursor.execute(execute, params)
    except DatabaseError as error:
        if _sqlstate(error) not in _PREPARE_AGAIN:
            raise
        # Whatever happens next, this connection's statements are prepared again on their next run.
        _prepared.pop(database, None)
        if database.in_atomic_block:
            raise
        _prepare(cursor, database, name=name, sql=sql, count=len(params))
        cursor.execute(execute, params)


def _prepare(cursor: CursorWrapper, database: BaseDatabaseWrapper, *, name: str, sql: str, count: int) -> None:
    connection = database.connection
    held = _prepared.get(database)
    if held is None or held[0] is not connection:
        held = (connection, set())
        _prepared[database] = held
    if name in held[1]:
        return
    parts = sql.split("%s")
    if len(parts) != count + 1 or any("%" in part for part in parts):
        raise ValueError(f"{name}: the statement must hold exactly {count} %s placeholders and no other %")
    numbered = "".join(part + (f"${index + 1}" if index < count else "") for index, part in enumerate(parts))
    # One left on this session by a wrapper that was replaced must not stop this one (once per connection).
    if _exists(cursor, name):
        cursor.execute(f"DEALLOCATE PREPARE {name}")
    cursor.execute(f"PREPARE {name} AS {numbered}")
    held[1].add(name)


def _exists(cursor: CursorWrapper, name: str) -> bool:
    cursor.execute("SELECT 1 FROM pg_prepared_statements WHERE name = %s", [name])
    return cursor.fetchone() is not None


def _sqlstate(error: DatabaseError) -> str | None:
    cause = error.__cause__
    # psycopg2 names it pgcode, psycopg 3 sqlstate.
    return getattr(cause, "pgcode", None) or getattr(cause, "sqlstate", None)
