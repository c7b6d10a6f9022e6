"""The only module of the follow-up engine that queues tasks: every doorbell rings after commit.

The database holds the work (STYLE.md item 3); a lost doorbell is rung again by the sweep, so a
failure to queue here loses nothing. Ids only, JSON arguments.
"""

from __future__ import annotations

import logging

from django.db import transaction

logger = logging.getLogger(__name__)

# Messages per send task: one task per message spent more time in the broker than in SMTP.
SEND_BATCH = 20


def _tasks():
    # tasks.py imports the modules that call this one; import it when a doorbell rings.
    from registry.followup import tasks

    return tasks


def _safely(ring) -> None:
    """After commit the rows are safe; a broker that is down only delays them until the sweep."""
    try:
        ring()
    except Exception:
        logger.warning("followup: could not queue a task; the sweep will ring again", exc_info=True)


def send_messages_on_commit(message_ids: list[int]) -> None:
    ids = list(message_ids)

    def ring():
        for start in range(0, len(ids), SEND_BATCH):
            _tasks().send_messages_task.delay(ids[start : start + SEND_BATCH])

    transaction.on_commit(lambda: _safely(ring))


def send_message_later(message_id: int, *, countdown: int) -> None:
    """A temporary failure: this one message is tried again after ``countdown`` seconds (if the
    broker is away, the sweep rings for it once it is due and its doorbell overdue)."""
    _safely(lambda: _tasks().send_message_task.apply_async((message_id,), countdown=countdown))


def schedule_procedure_on_commit(procedure_id: int) -> None:
    transaction.on_commit(lambda: _safely(lambda: _tasks().followup_schedule_procedure_task.delay(procedure_id)))


def schedule_patient_on_commit(patient_id: int) -> None:
    transaction.on_commit(lambda: _safely(lambda: _tasks().followup_schedule_patient_task.delay(patient_id)))


def protocol_replan_on_commit(protocol_id: int) -> None:
    transaction.on_commit(lambda: _safely(lambda: _tasks().protocol_replan_task.delay(protocol_id)))
