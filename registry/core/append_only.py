"""Tables the database itself keeps append-only: the audit history and the access log.

A trigger refuses every UPDATE and DELETE of a row, whoever asks — the application, the admin, a
shell or a raw SQL session — so that the record of who changed or looked at clinical data cannot
be rewritten afterwards. PostgreSQL (production, tests) and SQLite (the demo) both get it.
TRUNCATE is not blocked: it needs the table owner, and the test suite empties tables with it.

Migrations call ``protect`` for every table they create that must stay append-only (each
simple-history table); ``tests/security/test_audit_trail.py`` checks that none is missed.

SQLite rebuilds a table for most ALTERs (copy, drop, rename) and the rebuilt table has lost its
triggers, so on SQLite ``reprotect_sqlite`` runs after every ``migrate`` (post_migrate) and
installs them again on every table that must be append-only.
"""

from __future__ import annotations

TRIGGER = "append_only"

POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION registry_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
"""
POSTGRES_DROP_FUNCTION = "DROP FUNCTION IF EXISTS registry_append_only();"


def _statements(vendor: str, table: str) -> tuple[list[str], list[str]]:
    quoted = f'"{table}"'
    if vendor == "postgresql":
        return (
            [
                f"DROP TRIGGER IF EXISTS {TRIGGER} ON {quoted};",
                f"CREATE TRIGGER {TRIGGER} BEFORE UPDATE OR DELETE ON {quoted} "
                "FOR EACH ROW EXECUTE FUNCTION registry_append_only();",
            ],
            [f"DROP TRIGGER IF EXISTS {TRIGGER} ON {quoted};"],
        )
    if vendor == "sqlite":
        create, drop = [], []
        for operation in ("UPDATE", "DELETE"):
            name = f'"{table}_{TRIGGER}_{operation.lower()}"'
            drop.append(f"DROP TRIGGER IF EXISTS {name};")
            create += [
                f"DROP TRIGGER IF EXISTS {name};",
                f"CREATE TRIGGER {name} BEFORE {operation} ON {quoted} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {operation} refused'); END;",
            ]
        return create, drop
    return [], []


def protect(schema_editor, tables: list[str]) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_FUNCTION, params=None)
    for table in tables:
        for sql in _statements(vendor, table)[0]:
            schema_editor.execute(sql, params=None)


def unprotect(schema_editor, tables: list[str]) -> None:
    for table in tables:
        for sql in _statements(schema_editor.connection.vendor, table)[1]:
            schema_editor.execute(sql, params=None)


def history_tables(apps) -> list[str]:
    """Every simple-history table in a migration state (models named Historical… with a history_id)."""
    tables = []
    for model in apps.get_models():
        names = {field.name for field in model._meta.get_fields()}
        if model.__name__.startswith("Historical") and {"history_id", "history_type"} <= names:
            tables.append(model._meta.db_table)
    return sorted(tables)


def protected_tables(apps) -> list[str]:
    """Every table that must be append-only in a migration state: the histories and the access log."""
    return [*history_tables(apps), "core_accesslogentry"]


def reprotect_sqlite(*, using: str, apps=None, **_signal) -> None:
    """post_migrate: put back the triggers that SQLite's table rebuilds dropped (PostgreSQL keeps them).

    ``flush`` sends post_migrate without a migration state: the installed models are the state then.
    """
    from django.apps import apps as installed
    from django.db import connections

    connection = connections[using]
    if connection.vendor != "sqlite":
        return
    with connection.schema_editor() as editor:
        protect(editor, protected_tables(apps or installed))
