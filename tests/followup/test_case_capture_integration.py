"""Case capture's own services announce; follow-up plans and stops without being called directly."""

import pytest

from registry.followup.models import EventStatus, FollowUpEvent
from registry.patients import services as patient_services
from registry.procedures import services as procedure_services
from tests.followup.conftest import DAY0, at, queued_tasks_run_here
from tests.procedures.builders import level_row, procedure_data

pytestmark = pytest.mark.django_db


def test_procedure_recorded_by_case_capture_is_planned_and_withdrawal_cancels_it(
    patient, coordinator_a, clock, django_capture_on_commit_callbacks
):
    clock.set(at(3))
    with queued_tasks_run_here():
        procedure = procedure_services.procedure_record(
            patient=patient, acting_user=coordinator_a, data=procedure_data(performed_on=DAY0), levels=[level_row(20)]
        )
    events = FollowUpEvent.objects.filter(procedure=procedure)
    assert sorted(events.values_list("event_code", flat=True)) == ["baseline", "early", "m12", "m3"]

    with django_capture_on_commit_callbacks(execute=True):
        patient_services.consent_withdraw(patient=patient, acting_user=coordinator_a, effective_on=at(3).date())

    # Baseline had closed (day 0) before the procedure was recorded on day 3; the rest are cancelled
    assert dict(events.values_list("event_code", "status")) == {
        "baseline": EventStatus.MISSED,
        "early": EventStatus.CANCELLED,
        "m3": EventStatus.CANCELLED,
        "m12": EventStatus.CANCELLED,
    }


def test_case_entered_before_consent_is_planned_when_consent_is_recorded(site_a, coordinator_a, clock):
    from registry.patients.models import ConsentStatus
    from tests.factories import PatientFactory

    # Given a case entered while consent is still pending: nothing may be planned yet
    pending = PatientFactory(site=site_a, consent_status=ConsentStatus.PENDING, consent_date=None)
    clock.set(at(3))
    with queued_tasks_run_here():
        procedure = procedure_services.procedure_record(
            patient=pending, acting_user=coordinator_a, data=procedure_data(performed_on=DAY0), levels=[level_row(20)]
        )
    events = FollowUpEvent.objects.filter(procedure=procedure)
    assert not events.exists()

    # When the coordinator records the patient's consent
    with queued_tasks_run_here():
        patient_services.consent_record(
            patient=pending, acting_user=coordinator_a, status=ConsentStatus.CONSENTED, effective_on=at(3).date()
        )

    # Then the follow-up that is still ahead is planned
    assert dict(events.values_list("event_code", "status")) == {
        "baseline": EventStatus.MISSED,
        "early": EventStatus.SCHEDULED,
        "m3": EventStatus.SCHEDULED,
        "m12": EventStatus.SCHEDULED,
    }
