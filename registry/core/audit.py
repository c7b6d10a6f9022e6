"""Who made a change: the one mechanism every clinical model's history uses.

django-simple-history records each insert, update and delete of an audited model with its old and
new values. The acting user comes, in order, from: an explicit ``instance._history_user``; the
``acting_as`` context (services called from tasks, imports and commands); the current request
(web, API and admin, through ``HistoryRequestMiddleware``).

Reads leave a trace too: ``access_log_record`` notes who viewed or exported identified data
(``AccessLogEntry``), called by the identified pages, the API and the exports.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager

from simple_history.models import HistoricalRecords

from registry.core.models import AccessKind, AccessLogEntry

SYSTEM_USERNAME = "registry-system"

HISTORY_BATCH_SIZE = 2000
_actor: contextvars.ContextVar = contextvars.ContextVar("registry_actor", default=None)


def history_user(instance=None, request=None, **kwargs):
    explicit = getattr(instance, "_history_user", None)
    if explicit is not None:
        return explicit
    actor = _actor.get()
    if actor is not None:
        return actor
    request = request or getattr(HistoricalRecords.context, "request", None)
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user
    return None


def audited(**kwargs) -> HistoricalRecords:
    """History for a clinical model, with the acting user resolved as above."""
    kwargs.setdefault("get_user", history_user)
    return HistoricalRecords(**kwargs)


@contextmanager
def acting_as(user):
    """Attribute every audited write inside the block to ``user`` (a task's or command's actor)."""
    token = _actor.set(user)
    try:
        yield user
    finally:
        _actor.reset(token)


def current_actor():
    """The user of the enclosing ``acting_as`` block, else the system account."""
    return _actor.get() or system_user()


def history_copy(*, model, ids: list[int], history_type: str, acting_user=None) -> None:
    """One history row per row of ``ids`` as it now is, copied by the database: the audit trail of a
    set-based write (``bulk_create`` is "+", a bulk ``update`` "~"), which simple-history's signals
    never see. On PostgreSQL one statement binds the ids as one array; elsewhere (SQLite) plain
    ``IN`` lists of ``HISTORY_BATCH_SIZE``."""
    from django.db import connection
    from django.utils import timezone

    if not ids:
        return
    history = model.history.model
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in history.tracked_fields)
    user = acting_user or current_actor()
    now = timezone.now()
    insert = (
        f"INSERT INTO {quote(history._meta.db_table)} "  # noqa: S608 - names from the models, values bound
        f"({columns}, history_date, history_change_reason, history_type, history_user_id) "
        f"SELECT {columns}, %s, NULL, %s, %s FROM {quote(model._meta.db_table)} "
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(insert + "WHERE id = ANY(%s) ORDER BY id", [now, history_type, user.pk, list(ids)])
            return
        for start in range(0, len(ids), HISTORY_BATCH_SIZE):
            batch = ids[start : start + HISTORY_BATCH_SIZE]
            sql = insert + f"WHERE id IN ({', '.join(['%s'] * len(batch))})"
            cursor.execute(sql, [now, history_type, user.pk, *batch])


def bulk_create_audited(objs: list, model, acting_user) -> None:
    """``bulk_create``, then one "created" history row per new row under ``acting_user``."""
    if not objs:
        return
    model.objects.bulk_create(objs, batch_size=HISTORY_BATCH_SIZE)
    history_copy(model=model, ids=[obj.pk for obj in objs], history_type="+", acting_user=acting_user)


def system_user():
    """The account that automated work (sweeps, imports without a person) is recorded under."""
    from django.contrib.auth import get_user_model

    user, created = get_user_model().objects.get_or_create(
        username=SYSTEM_USERNAME, defaults={"is_active": False, "first_name": "Registry", "last_name": "automation"}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def field_changes(record) -> list[dict]:
    """Old and new values of one history record against the one before it, for audit screens."""
    previous = record.prev_record
    if previous is None:
        return []
    delta = record.diff_against(previous)
    return [{"field": c.field, "old": c.old, "new": c.new} for c in delta.changes]


def access_log_record(
    *,
    user,
    kind: str,
    site_id: int | None = None,
    record=None,
    record_type: str = "",
    record_id: int | None = None,
    rows: int | None = None,
):
    """Note that ``user`` viewed or exported identified data (``AccessKind``); internal ids only.

    ``record`` is the model instance looked at (its label and primary key are kept); an API
    resource without an instance at hand passes ``record_type`` / ``record_id``.
    """
    if kind not in AccessKind.values:
        raise ValueError(f"Unknown access kind {kind!r}.")
    if record is not None:
        record_type, record_id = record._meta.label_lower, record.pk
    return AccessLogEntry.objects.create(
        user=user, kind=kind, site_id=site_id, record_type=record_type[:40], record_id=record_id, rows=rows
    )
