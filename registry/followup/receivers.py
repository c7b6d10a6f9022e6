"""Receivers of registry.core.events: thin, they call the services (signals arrive after commit)."""

from __future__ import annotations

from registry.followup import services


def on_procedure_recorded(sender, procedure_id: int, **kwargs) -> None:
    services.followup_schedule_procedure(procedure_id=procedure_id)


def on_procedure_changed(sender, procedure_id: int, **kwargs) -> None:
    services.followup_replan_procedure(procedure_id=procedure_id)


def on_contact_stopped(sender, patient_id: int, reason: str, **kwargs) -> None:
    services.followup_stop_contact(patient_id=patient_id, reason=reason)


def on_patient_consented(sender, patient_id: int, **kwargs) -> None:
    services.followup_schedule_patient(patient_id=patient_id)
