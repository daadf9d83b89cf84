"""webapp.prepared_statements: prepared once per PostgreSQL connection, prepared again when lost."""

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.utils import DatabaseError

from webapp import prepared_statements
from webapp.prepared_statements import prepared_execute

on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="PREPARE is PostgreSQL's")
ADD = "SELECT %s::int + %s::int"


def add(left: int, right: int) -> int:
    # The wrapper itself, as the callers pass it (not the thread-local proxy).
    database = connections[DEFAULT_DB_ALIAS]
    with database.cursor() as cursor:
        prepared_execute(cursor, database, name="sightline_test_add", sql=ADD, params=[left, right])
        return cursor.fetchone()[0]


def prepared_here() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE name = 'sightline_test_add'")
        return [row[0] for row in cursor.fetchall()]


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_statement_is_prepared_once_per_connection_and_answers_as_the_plain_one():
    connection.close()
    assert (add(2, 3), add(40, 2)) == (5, 42)
    assert prepared_here() == ["PREPARE sightline_test_add AS SELECT $1::int + $2::int"]
    # A new connection (Django reconnects after CONN_MAX_AGE or an error) prepares it again.
    connection.close()
    assert prepared_here() == []
    assert add(1, 1) == 2
    assert len(prepared_here()) == 1


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_statement_the_session_lost_is_prepared_again_and_run_outside_a_transaction():
    assert add(2, 3) == 5
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # as a pooler's DISCARD ALL does
    assert add(3, 4) == 7
    assert len(prepared_here()) == 1
    # Inside a transaction the error is the caller's: the transaction cannot go on anyway.
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    with pytest.raises(DatabaseError), transaction.atomic():
        add(1, 2)
    # ...and the next run, in a transaction or not, prepares it again.
    with transaction.atomic():
        assert add(1, 2) == 3
    assert add(2, 2) == 4


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_statement_whose_result_type_a_migration_changed_is_prepared_again():
    database = connections[DEFAULT_DB_ALIAS]
    with database.cursor() as cursor:
        cursor.execute("CREATE TABLE sightline_test_widths (name varchar(10))")
        cursor.execute("INSERT INTO sightline_test_widths VALUES ('a')")
    try:

        def names() -> list[str]:
            with database.cursor() as cursor:
                prepared_execute(
                    cursor,
                    database,
                    name="sightline_test_widths",
                    sql="SELECT name FROM sightline_test_widths WHERE name <> %s",
                    params=[""],
                )
                return [row[0] for row in cursor.fetchall()]

        assert names() == ["a"]
        with database.cursor() as cursor:
            # As a max_length change migrates it, while the web processes keep their connections.
            cursor.execute("ALTER TABLE sightline_test_widths ALTER COLUMN name TYPE varchar(250)")
        assert names() == ["a"]
    finally:
        with database.cursor() as cursor:
            cursor.execute("DROP TABLE sightline_test_widths")


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_leftover_of_the_same_name_on_the_session_is_replaced():
    with connection.cursor() as cursor:
        cursor.execute("PREPARE sightline_test_add AS SELECT 0")
    prepared_statements._prepared.pop(connections[DEFAULT_DB_ALIAS], None)
    assert add(2, 2) == 4


@pytest.mark.django_db
def test_turned_off_or_on_another_database_the_plain_statement_runs(settings):
    settings.SIGHTLINE_DB_PREPARED_STATEMENTS = connection.vendor != "postgresql"
    database = connections[DEFAULT_DB_ALIAS]
    prepared_statements._prepared.pop(database, None)
    with database.cursor() as cursor:
        prepared_execute(cursor, database, name="sightline_test_plain", sql="SELECT %s + %s", params=[2, 3])
        assert cursor.fetchone()[0] == 5
        if connection.vendor == "postgresql":
            cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE name = 'sightline_test_plain'")
            assert cursor.fetchone()[0] == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "sql", "problem"),
    [
        ("sightline_test_odd", "SELECT %s WHERE 'a' LIKE '%'", "no other %"),
        ("sightline_test_odd", "SELECT 1", "exactly 1 %s"),
        ("drop table", "SELECT %s", "name"),
    ],
)
def test_a_statement_it_cannot_number_or_name_is_refused(name, sql, problem):
    if connection.vendor != "postgresql":
        pytest.skip("elsewhere the plain statement runs")
    database = connections[DEFAULT_DB_ALIAS]
    with database.cursor() as cursor, pytest.raises(ValueError, match=problem):
        prepared_execute(cursor, database, name=name, sql=sql, params=[1])
