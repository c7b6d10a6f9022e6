"""Receivers of registry.core.events: thin, they call the services (signals arrive after commit).

Planning runs at once, so the coordinator sees the events on the next page. If it fails (a
database hiccup, a bug), the planning task is queued to try again with back-off, and the sweep
plans any consented procedure still without events (``dispatch.plan_unplanned_procedures``):
nothing is left to a log line.
"""

from __future__ import annotations

import logging

from registry.followup import queueing, services

logger = logging.getLogger(__name__)


def on_procedure_recorded(sender, procedure_id: int, **kwargs) -> None:
    try:
        services.followup_schedule_procedure(procedure_id=procedure_id)
    except Exception:
        logger.exception("followup: planning procedure %s failed; queued again", procedure_id)
        queueing.schedule_procedure_on_commit(procedure_id)


def on_procedure_changed(sender, procedure_id: int, **kwargs) -> None:
    try:
        services.followup_replan_procedure(procedure_id=procedure_id)
    except Exception:
        logger.exception("followup: re-planning procedure %s failed; queued again", procedure_id)
        queueing.schedule_procedure_on_commit(procedure_id)


def on_contact_stopped(sender, patient_id: int, reason: str, **kwargs) -> None:
    services.followup_stop_contact(patient_id=patient_id, reason=reason)


def on_patient_consented(sender, patient_id: int, **kwargs) -> None:
    try:
        services.followup_schedule_patient(patient_id=patient_id)
    except Exception:
        logger.exception("followup: planning patient %s failed; queued again", patient_id)
        queueing.schedule_patient_on_commit(patient_id)
