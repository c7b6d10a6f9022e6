"""A survey response's procedure and event belong to its patient, also on SQLite (the demo).

PostgreSQL gets its triggers from migration 0004 (they survive every later ALTER). On SQLite a
trigger that names another table breaks later migrations that rebuild that table (the rename
step checks every trigger), and a rebuilt table loses its own triggers. So on SQLite the triggers
are dropped before ``migrate`` (pre_migrate) and created again after it (post_migrate).
"""

from __future__ import annotations

from django.db import connections

_RESPONSE_CHECKS = {
    "procedure": (
        "NEW.procedure_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM procedures_procedure "
        "WHERE id = NEW.procedure_id AND patient_id = NEW.patient_id)",
        "a survey response''s procedure must belong to its patient",
    ),
    "event": (
        "NEW.event_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM followup_followupevent "
        "WHERE id = NEW.event_id AND patient_id = NEW.patient_id)",
        "a survey response''s event must belong to its patient",
    ),
}


def _sqlite_triggers() -> dict[str, str]:
    triggers = {}
    for what, (condition, message) in _RESPONSE_CHECKS.items():
        for operation, on in (
            ("insert", "INSERT"),
            ("update", "UPDATE OF patient_id, procedure_id, event_id"),
        ):
            name = f"followup_response_same_patient_{what}_{operation}"
            triggers[name] = (
                f"CREATE TRIGGER {name} BEFORE {on} ON followup_surveyresponse WHEN {condition} "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END;"
            )
    name = "followup_procedure_keeps_its_responses"
    triggers[name] = (
        f"CREATE TRIGGER {name} BEFORE UPDATE OF patient_id ON procedures_procedure "  # noqa: S608 - constant names
        "WHEN NEW.patient_id IS NOT OLD.patient_id AND EXISTS (SELECT 1 FROM followup_surveyresponse "
        "WHERE procedure_id = NEW.id AND patient_id <> NEW.patient_id) "
        "BEGIN SELECT RAISE(ABORT, 'a procedure with survey responses cannot move to another patient'); END;"
    )
    return triggers


SQLITE_TRIGGERS = _sqlite_triggers()


def drop_sqlite_triggers(*, using: str, **_signal) -> None:
    """pre_migrate: out of the way of the table rebuilds that migrations do on SQLite."""
    connection = connections[using]
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        for name in SQLITE_TRIGGERS:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


def create_sqlite_triggers(*, using: str, **_signal) -> None:
    """post_migrate: the same refusals as PostgreSQL's triggers, once every table is in its final shape."""
    connection = connections[using]
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        for name, create in SQLITE_TRIGGERS.items():
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            cursor.execute(create)
