"""Bulk inserts that keep the audit trail: one "created" history row per row, under the importing user."""

from __future__ import annotations

from django.db import connection
from django.utils import timezone

BATCH_SIZE = 2000


def bulk_create_audited(objs: list, model, acting_user) -> None:
    """``bulk_create``, then one "created" history row per new row, copied by the database."""
    if not objs:
        return
    model.objects.bulk_create(objs, batch_size=BATCH_SIZE)
    history = model.history.model
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in history.tracked_fields)
    now = timezone.now()
    with connection.cursor() as cursor:
        # ``IN`` with one parameter per id (not PostgreSQL's ``= ANY``): the same SQL on SQLite.
        for start in range(0, len(objs), BATCH_SIZE):
            ids = [obj.pk for obj in objs[start : start + BATCH_SIZE]]
            sql = (
                f"INSERT INTO {quote(history._meta.db_table)} "  # noqa: S608 - names from the models, values bound
                f"({columns}, history_date, history_change_reason, history_type, history_user_id) "
                f"SELECT {columns}, %s, NULL, '+', %s FROM {quote(model._meta.db_table)} "
                f"WHERE id IN ({', '.join(['%s'] * len(ids))})"
            )
            cursor.execute(sql, [now, acting_user.pk, *ids])
