"""Thin task adapters around dispatch.py and services.py: ids in, JSON only, safe to run twice.

Time limits and retry back-offs stay below the Redis visibility timeout (3,600 s), so the broker
never hands a running or waiting task to a second worker (tests/test_schedule.py checks it). A
task that meets a database or broker outage retries itself; the rows it had not finished are
still in the database, so the sweep would find them anyway.
"""

from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.db.models import F
from kombu.exceptions import OperationalError as BrokerError

from registry.core.models import Heartbeat
from registry.followup import dispatch, queueing, services

logger = logging.getLogger(__name__)
SWEEP_HEARTBEAT = "followup-sweep"
# Outages worth waiting out: the database or the broker is not there for a moment.
TRANSIENT = (OperationalError, InterfaceError, BrokerError)
OUTAGE_RETRY = {"autoretry_for": TRANSIENT, "retry_backoff": 2, "retry_backoff_max": 60, "retry_jitter": True}


def _parse_now(now: str | None) -> datetime | None:
    # For the command and tests; beat passes nothing and the clock decides.
    return datetime.fromisoformat(now) if now else None


@shared_task(time_limit=300, soft_time_limit=240, acks_late=True)
def followup_sweep_task(now: str | None = None) -> dict:
    report = dispatch.followup_sweep(now=_parse_now(now))
    # Proof of life with the sweep's own clock: health checks and the worker tests read it.
    beat, _ = Heartbeat.objects.get_or_create(source=SWEEP_HEARTBEAT, defaults={"beat_at": report.now})
    Heartbeat.objects.filter(pk=beat.pk).update(beat_at=report.now, runs=F("runs") + 1)
    summary = report.as_dict()
    if any(summary.values()):
        logger.info("followup sweep: %s", summary)
    return summary


def _outage_countdown(retries: int) -> int:
    # The database went away mid-batch: soon again (it is usually back within seconds), capped.
    return min(2 ** (retries + 1), 60)


# Hard limit 120 s (connect + send under EMAIL_TIMEOUT, plus dispatch.MARK_SENT_PATIENCE while the
# database is away); FOLLOWUP_SEND_LEASE_SECONDS must stay above it.
@shared_task(bind=True, time_limit=120, soft_time_limit=100, acks_late=True, max_retries=None, **OUTAGE_RETRY)
def send_message_task(self, message_id: int, accepted: list[int] | None = None) -> str:
    try:
        outcome = dispatch.messages_send(message_ids=[message_id], owner=self.request.id or "", accepted=accepted)[
            message_id
        ]
    except dispatch.DispatchInterrupted as exc:
        raise self.retry(
            kwargs={"message_id": message_id, "accepted": exc.accepted},
            countdown=_outage_countdown(self.request.retries),
        ) from exc
    if outcome.retry_in is not None:
        raise self.retry(kwargs={"message_id": message_id}, countdown=outcome.retry_in)
    return outcome.status


# A batch of SEND_BATCH sends; the hard limit stays below FOLLOWUP_SEND_LEASE_SECONDS (600 s), so a
# message left "sending" by a killed batch is reclaimed only once its owner is surely gone. Claims
# carry the task's id: its retries (same id) take back what it could not give back itself.
@shared_task(bind=True, time_limit=540, soft_time_limit=500, acks_late=True, max_retries=20, **OUTAGE_RETRY)
def send_messages_task(self, message_ids: list[int], accepted: list[int] | None = None) -> dict:
    try:
        results = dispatch.messages_send(message_ids=message_ids, owner=self.request.id or "", accepted=accepted)
    except dispatch.DispatchInterrupted as exc:
        # Retry the batch; what the SMTP server already accepted is recorded then, not sent again.
        raise self.retry(
            kwargs={"message_ids": message_ids, "accepted": exc.accepted},
            countdown=_outage_countdown(self.request.retries),
        ) from exc
    counts: dict[str, int] = {}
    for message_id, outcome in results.items():
        if outcome.retry_in is not None:
            # Temporary SMTP error: this one message retries on its own with back-off.
            queueing.send_message_later(message_id, countdown=outcome.retry_in)
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return counts


@shared_task(time_limit=120, soft_time_limit=100, acks_late=True, max_retries=10, **OUTAGE_RETRY)
def followup_schedule_procedure_task(procedure_id: int) -> int:
    return len(services.followup_schedule_procedure(procedure_id=procedure_id))


@shared_task(time_limit=300, soft_time_limit=240, acks_late=True, max_retries=10, **OUTAGE_RETRY)
def followup_schedule_patient_task(patient_id: int) -> int:
    return services.followup_schedule_patient(patient_id=patient_id)


@shared_task(time_limit=1800, soft_time_limit=1700, acks_late=True, max_retries=5, **OUTAGE_RETRY)
def protocol_replan_task(protocol_id: int) -> int:
    return services.protocol_replan(protocol_id=protocol_id)


@shared_task(time_limit=300, soft_time_limit=240, acks_late=True)
def staff_digests_plan_task() -> int:
    from registry.followup import staffmail

    return staffmail.staff_digests_plan()
