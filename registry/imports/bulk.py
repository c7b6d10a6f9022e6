"""Write an import's new rows set-based, with their history rows under the importing user.

Rows are plain dicts of field values (``patient_id`` or ``patient=<object>``; a field left out
takes its default), not model objects: building a Django object per row and preparing each of its
values for an ``INSERT`` were most of an import's write time. On PostgreSQL the rows go in by
``COPY``, with ids drawn from the table's sequence beforehand (so the plan learns every new id
without reading the rows back); then one ``INSERT … SELECT`` copies them into the history
table (``audit.history_copy``). Elsewhere (the SQLite demo) it is ``bulk_create``. Either way it
runs inside the import's transaction: all or nothing.

``ImportWriter`` writes one table after another. On PostgreSQL the database's work that follows
a table's ``COPY`` — its history rows and the check of its deferred foreign keys — is sent without
waiting for it (psycopg's pipeline mode), so the database does it while Python prepares the next
table's rows; the next query of any kind waits for it first and raises its error, if any.
"""

from __future__ import annotations

from contextlib import ExitStack

from django.db import connection, models
from django.utils import timezone

from registry.core.audit import HISTORY_BATCH_SIZE, history_copy


def _cell(field: models.Field, value):
    """A default or a relation/JSON value as COPY takes it (psycopg writes the rest, choices by value)."""
    if value is None:
        return None
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(field, models.JSONField):
        return connection.ops.adapt_json_value(value, field.encoder)
    return value


def insert_rows(model: type[models.Model], rows: list[dict]) -> list[int]:
    """Insert ``rows`` (field values by name or attname) as new rows of ``model``; their new ids, in order."""
    if not rows:
        return []
    if connection.vendor != "postgresql":
        objs = [model(**row) for row in rows]
        model.objects.bulk_create(objs, batch_size=HISTORY_BATCH_SIZE)
        return [obj.pk for obj in objs]
    now = timezone.now()
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    # Plain columns are taken as they are (psycopg writes TextChoices members by their value);
    # only relations (an object or an id, by name or attname) and JSON need converting.
    plain, converted = [], []
    for position, field in enumerate(fields, start=1):
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            default = now
        else:
            default = _cell(field, field.get_default())
        if field.is_relation or isinstance(field, models.JSONField):
            converted.append((position, field, field.name, field.attname, default))
        else:
            plain.append((field.attname, default))
    table = model._meta.db_table
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in [model._meta.pk, *fields])
    missing = object()
    # A row the table refuses raises Django's error, as the ORM's writes do.
    with connection.wrap_database_errors, connection.cursor() as cursor:
        # The sequence is named once: looked up on each row, it took ten times the drawing of the ids.
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [quote(table)])
        (sequence,) = cursor.fetchone()
        cursor.execute("SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [sequence, len(rows)])
        ids = [pk for (pk,) in cursor.fetchall()]
        cursor.execute(
            "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0",
            [quote(table)],
        )
        types = dict(cursor.fetchall())
        # In binary, each value as its column's type: the database parses no text and psycopg
        # formats none (a 20,000-level commit's rows: 1.9-2.4 s -> 1.6-1.7 s, BENCHMARKS.md "National scale").
        with cursor.cursor.copy(f"COPY {quote(table)} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types([types[field.column] for field in [model._meta.pk, *fields]])
            write_row = copy.write_row
            for pk, row in zip(ids, rows, strict=True):
                get = row.get
                cells = [pk, *[get(attname, default) for attname, default in plain]]
                for position, field, name, attname, default in converted:
                    value = get(attname, missing)
                    if value is missing:
                        value = get(name, missing)
                    cells.insert(position, default if value is missing else _cell(field, value))
                write_row(cells)
    return ids


class ImportWriter:
    """Inserts an import's tables in order (``insert``), each table's history rows and foreign-key
    checks overlapping the preparation of the next one on PostgreSQL. Use as a context manager
    inside the import's transaction: on leaving it everything sent has been done (or has raised)."""

    def __init__(self, acting_user):
        self.acting_user = acting_user
        self.overlap = connection.vendor == "postgresql"
        self._pending = ExitStack()
        self._sending = False
        self._wrapper = None

    def __enter__(self) -> ImportWriter:
        if self.overlap:
            self._wrapper = connection.execute_wrapper(self._settle_first)
            self._wrapper.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.settle()
            else:
                self._pending.__exit__(exc_type, exc, tb)
        finally:
            if self._wrapper is not None:
                self._wrapper.__exit__(exc_type, exc, tb)

    def insert(self, model: type[models.Model], rows: list[dict], *, audited: bool = True) -> list[int]:
        """``insert_rows``, then (``audited``) one "created" history row per new row under the acting user."""
        if not rows:
            return []
        self.settle()
        ids = insert_rows(model, rows)
        if self.overlap:
            self._pending.enter_context(connection.connection.pipeline())
        self._sending = True
        try:
            if audited:
                history_copy(model=model, ids=ids, history_type="+", acting_user=self.acting_user)
            if self.overlap:
                # Django's own check_constraints: the deferred foreign keys of the rows so far, now.
                connection.check_constraints()
        finally:
            self._sending = False
        return ids

    def settle(self) -> None:
        """Wait for the work sent after the last table; its error, if any, is raised here."""
        with connection.wrap_database_errors:
            self._pending.close()

    def _settle_first(self, execute, sql, params, many, context):
        if not self._sending:
            self.settle()
        return execute(sql, params, many, context)
