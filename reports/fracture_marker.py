"""A number the database changes whenever data the dashboard's new-fracture section rests on
changes: the section's cache key (``reports.fracture_outcomes.dashboard_section``).

Whatever writes: services, the admin, imports with ``bulk_create`` or COPY, ``update()``, raw
SQL. Triggers on every table in ``TABLES`` move it, for an insert, an update, a delete or a
TRUNCATE, including an adjudication sign-off (a column of the fracture or complication).

Cheap to read: ``read()`` is one query of one row, a sequence's state on PostgreSQL and a one-row
table on SQLite, the same at a hundred patients as at ten million.

Writers never wait for one another. On PostgreSQL each statement on one of ``TABLES`` inserts a
row into ``reports_fracture_data_pending`` (no key, no index: nothing another transaction could
lock) and deletes it again at once; the insert has queued that row's deferred constraint
trigger, which calls ``nextval`` on the sequence when the transaction commits. ``nextval`` is not
transactional and holds no lock beyond the call. A counter row instead would be locked by its
first writer until that writer commits, and every other writer would queue behind it. Constraint
triggers, the only deferrable kind, fire once per row; the pending row makes it once per
statement: a deferred trigger on each written row cost 5 µs a row at commit (a second for
200,000 rows, doubling a bulk insert). A transaction that rolls back (or a savepoint, for its
statements) never fires its deferred triggers and leaves the marker where it was: nothing cached
under it has gone wrong. On SQLite (the demo) triggers add one to a one-row table in the writer's
transaction: SQLite runs one writer at a time anyway, and the bump commits with the data.

Never stale for long. On PostgreSQL the bump is visible a moment before the data it stands for:
it is made as the commit begins (the deferred work queued after the transaction's last statement
on ``TABLES``, the commit's WAL flush and a replica's replay come after), and a reader in that
moment reads the new marker but computes without the writer's rows. Cached under the new marker,
that would be served until the next write. So a reader notes when it first saw each marker (in
the cache): a section computed less than ``SETTLE_SECONDS`` after its marker was first seen is
served only until ``SETTLE_SECONDS`` after it was computed, then computed again; one computed
later is kept the full time. A stale section is therefore served at most ``SETTLE_SECONDS``
after it was computed, provided a commit takes less than that from its last statement on
``TABLES`` to being visible where the section is read (the replica's lag included, "a few
seconds": ``registry/db_router.py``). The price: a view computed right after a change is computed
once more if asked for again after ``SETTLE_SECONDS``. ``SET CONSTRAINTS ALL IMMEDIATE`` fires
the bump there and then, so a transaction that runs it must commit soon after (nothing in the
registry runs it).

The triggers are installed by ``reports/migrations/0004_fracture_data_marker.py`` on PostgreSQL
(they survive every ALTER there). SQLite drops a table's triggers when a migration rebuilds the
table, so there ``install_sqlite`` runs after every ``migrate`` (post_migrate) and moves the
marker, since rows written while the triggers were gone did not.
"""

from __future__ import annotations

from django.db import connection, connections

# Every table the section reads (tests/reports/test_fracture_marker.py checks it): procedures
# and their levels, leaks, survey responses, fractures (with their sign-off) and their levels'
# classes, re-treatments, complications (with their sign-off), and the patients' deaths and
# consent withdrawals that end their observation.
TABLES = (
    "procedures_procedure",
    "procedures_treatedlevel",
    "procedures_cementleak",
    "procedures_complication",
    "followup_surveyresponse",
    "fractures_fractureevent",
    "fractures_fracturelevel",
    "fractures_reintervention",
    "patients_patient",
    "patients_consentevent",
)
MARKER = "reports_fracture_data_marker"
PENDING = "reports_fracture_data_pending"
# A commit (its last statement on TABLES to visible on the replica) is assumed to take less.
SETTLE_SECONDS = 30

POSTGRES_FUNCTIONS = f"""
CREATE SEQUENCE IF NOT EXISTS {MARKER};
CREATE UNLOGGED TABLE IF NOT EXISTS {PENDING} ();
CREATE OR REPLACE FUNCTION reports_fracture_data_written() RETURNS trigger AS $$
DECLARE
    queued tid;
BEGIN
    -- The insert queues the deferred bump; the row itself is not needed, so it goes at once (by
    -- its tid: one row, whatever the transaction has written before).
    INSERT INTO {PENDING} DEFAULT VALUES RETURNING ctid INTO queued;
    DELETE FROM {PENDING} WHERE ctid = queued;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE OR REPLACE FUNCTION reports_fracture_data_committing() RETURNS trigger AS $$
BEGIN
    PERFORM nextval('{MARKER}');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS reports_fracture_data_committing ON {PENDING};
CREATE CONSTRAINT TRIGGER reports_fracture_data_committing AFTER INSERT ON {PENDING}
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION reports_fracture_data_committing();
"""  # noqa: S608 - constant names
POSTGRES_DROP_FUNCTIONS = f"""
DROP TABLE IF EXISTS {PENDING};
DROP FUNCTION IF EXISTS reports_fracture_data_committing();
DROP FUNCTION IF EXISTS reports_fracture_data_written();
DROP SEQUENCE IF EXISTS {MARKER};
"""


def _postgres_triggers(table: str) -> str:
    return f"""
DROP TRIGGER IF EXISTS reports_fracture_data_written ON {table};
CREATE TRIGGER reports_fracture_data_written AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION reports_fracture_data_written();
"""


def install_postgres(schema_editor) -> None:
    schema_editor.execute(POSTGRES_FUNCTIONS, params=None)
    for table in TABLES:
        schema_editor.execute(_postgres_triggers(table), params=None)


def uninstall_postgres(schema_editor) -> None:
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS reports_fracture_data_written ON {table};", params=None)
    schema_editor.execute(POSTGRES_DROP_FUNCTIONS, params=None)


def _sqlite_statements() -> list[str]:
    statements = [
        f"CREATE TABLE IF NOT EXISTS {MARKER} (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL)",
        f"INSERT OR IGNORE INTO {MARKER} (id, value) VALUES (1, 0)",  # noqa: S608 - constant names
        # Rows written while a rebuilt table had lost its triggers did not move the marker.
        f"UPDATE {MARKER} SET value = value + 1",  # noqa: S608 - constant names
    ]
    for table in TABLES:
        for operation in ("INSERT", "UPDATE", "DELETE"):
            name = f"{table}_fracture_data_{operation.lower()}"
            statements += [
                f"DROP TRIGGER IF EXISTS {name}",
                f"CREATE TRIGGER {name} AFTER {operation} ON {table} "  # noqa: S608 - constant names
                f"BEGIN UPDATE {MARKER} SET value = value + 1; END",
            ]
    return statements


SQLITE_STATEMENTS = _sqlite_statements()


def install_sqlite(*, using: str, **_signal) -> None:
    """post_migrate: the marker and its triggers on SQLite, once every table is in its final shape."""
    sqlite = connections[using]
    if sqlite.vendor != "sqlite":
        return
    with sqlite.cursor() as cursor:
        for statement in SQLITE_STATEMENTS:
            cursor.execute(statement)


def read() -> int:
    """The marker, from the primary (where the writers move it): one row, one query."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {MARKER}")  # noqa: S608
        else:
            cursor.execute(f"SELECT value FROM {MARKER}")  # noqa: S608 - constant name
        return cursor.fetchone()[0]
