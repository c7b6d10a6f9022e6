"""Thin task adapters around dispatch.py and services.py: ids in, JSON only, safe to run twice."""

from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task
from django.db.models import F

from registry.core.models import Heartbeat
from registry.followup import dispatch, services

logger = logging.getLogger(__name__)
SWEEP_HEARTBEAT = "followup-sweep"


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


# Hard limit 60 s (connect + send under EMAIL_TIMEOUT); FOLLOWUP_SEND_LEASE_SECONDS must stay above it.
@shared_task(bind=True, time_limit=60, soft_time_limit=50, acks_late=True, max_retries=None)
def send_message_task(self, message_id: int) -> str:
    outcome = dispatch.message_send(message_id=message_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


# A batch of SEND_BATCH sends; the hard limit stays below FOLLOWUP_SEND_LEASE_SECONDS (600 s), so a
# message left "sending" by a killed batch is reclaimed only once its owner is surely gone.
@shared_task(time_limit=540, soft_time_limit=500, acks_late=True)
def send_messages_task(message_ids: list[int]) -> dict:
    counts: dict[str, int] = {}
    for message_id, outcome in dispatch.messages_send(message_ids=message_ids).items():
        if outcome.retry_in is not None:
            # Temporary SMTP error: this one message retries on its own with back-off.
            send_message_task.apply_async((message_id,), countdown=outcome.retry_in)
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return counts


@shared_task(time_limit=60, soft_time_limit=50, acks_late=True)
def followup_schedule_procedure_task(procedure_id: int) -> int:
    return len(services.followup_schedule_procedure(procedure_id=procedure_id))


@shared_task(time_limit=3600, soft_time_limit=3500, acks_late=True)
def protocol_replan_task(protocol_id: int) -> int:
    return services.protocol_replan(protocol_id=protocol_id)


@shared_task(time_limit=300, soft_time_limit=240, acks_late=True)
def staff_digests_plan_task() -> int:
    from registry.followup import staffmail

    return staffmail.staff_digests_plan()
