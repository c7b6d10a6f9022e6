"""Receivers of registry.core.events: thin, they queue a task (signals arrive after commit).

Planning runs in a task queued on commit (``queueing.py``; queue "plan"), never in the request
that recorded the case: a slow or failing planner cannot turn a saved case into an error page, and
the task retries on database and broker outages. If the task is lost (broker wiped) or fails for
good, the sweep plans any consented procedure still without events
(``dispatch.plan_unplanned_procedures``): nothing is left to a log line.
"""

from __future__ import annotations

from registry.followup import queueing, services


def on_procedure_recorded(sender, procedure_id: int, **kwargs) -> None:
    queueing.schedule_procedure_on_commit(procedure_id)


def on_procedure_changed(sender, procedure_id: int, **kwargs) -> None:
    # Re-planning is the same idempotent step: it re-dates only what is still scheduled.
    queueing.schedule_procedure_on_commit(procedure_id)


def on_contact_stopped(sender, patient_id: int, reason: str, **kwargs) -> None:
    # At once, not queued: a withdrawn or deceased patient must not get the email due this minute.
    services.followup_stop_contact(patient_id=patient_id, reason=reason)


def on_patient_consented(sender, patient_id: int, **kwargs) -> None:
    queueing.schedule_patient_on_commit(patient_id)
