import datetime as dt

import pytest

from registry.core.events import patient_contact_stopped, procedure_changed
from registry.followup import services
from registry.followup.models import EventStatus, FollowUpEvent, FollowUpProtocol, ProtocolEvent, SiteFollowUpProtocol
from registry.patients.models import BoneHealthAction, BoneHealthActionKind, ConsentStatus
from tests.factories import PatientFactory
from tests.followup.conftest import DAY0, at, queued_tasks_run_here, record_procedure

pytestmark = pytest.mark.django_db


def _events(procedure):
    return {e.event_code: e for e in FollowUpEvent.objects.filter(procedure=procedure)}


def test_default_protocol_of_the_data_dictionary_is_loaded_by_migration():
    protocol = FollowUpProtocol.objects.get(is_default=True)
    rows = [
        (e.code, e.window_start_day, e.invite_day, e.window_end_day, e.reminder_offsets_days, e.max_messages)
        for e in protocol.events.all()
    ]
    assert rows == [
        ("baseline", -30, None, 0, [], 3),
        ("early", 14, 14, 42, [3, 7], 3),
        ("m3", 76, 83, 120, [3, 7], 3),
        ("m12", 335, 350, 395, [3, 7], 3),
    ]
    assert protocol.events.get(code="early").instruments == ["vas", "odi", "red_flags", "analgesic_use"]


def test_recorded_procedure_of_consented_patient_gets_one_event_per_protocol_event(patient):
    # When case capture announces a procedure
    procedure = record_procedure(patient)

    # Then the events are planned from the procedure date
    events = _events(procedure)
    assert set(events) == {"baseline", "early", "m3", "m12"}
    early = events["early"]
    assert (early.window_opens_on, early.invite_on, early.window_closes_on) == (
        DAY0 + dt.timedelta(days=14),
        DAY0 + dt.timedelta(days=14),
        DAY0 + dt.timedelta(days=42),
    )
    assert events["m12"].invite_on == DAY0 + dt.timedelta(days=350)
    assert events["baseline"].invite_on is None
    assert early.status == EventStatus.SCHEDULED
    # And announcing it again creates nothing new
    services.followup_schedule_procedure(procedure_id=procedure.pk)
    assert FollowUpEvent.objects.filter(procedure=procedure).count() == 4


def test_patient_without_consent_gets_no_follow_up(site_a):
    patient = PatientFactory(site=site_a, consent_status=ConsentStatus.PENDING, consent_date=None)
    procedure = record_procedure(patient)
    assert not FollowUpEvent.objects.filter(procedure=procedure).exists()


def test_changed_procedure_date_replans_unsent_events_only(patient):
    procedure = record_procedure(patient)
    early = _events(procedure)["early"]
    early.status = EventStatus.INVITED
    early.save()

    # When the date is corrected by five days
    procedure.performed_on = DAY0 + dt.timedelta(days=5)
    procedure.save()
    with queued_tasks_run_here():
        procedure_changed.send(sender=None, procedure_id=procedure.pk)

    # Then the unsent 3-month event moves, the invited early event keeps its dates
    events = _events(procedure)
    assert events["m3"].invite_on == DAY0 + dt.timedelta(days=88)
    assert events["early"].invite_on == DAY0 + dt.timedelta(days=14)


def test_editing_the_protocol_replans_unsent_events_of_existing_patients(patient):
    procedure = record_procedure(patient)
    protocol_event = ProtocolEvent.objects.get(protocol__is_default=True, code="m3")
    protocol_event.invite_day = 90
    protocol_event.save()

    services.protocol_replan(protocol_id=protocol_event.protocol_id)

    assert _events(procedure)["m3"].invite_on == DAY0 + dt.timedelta(days=90)


def test_site_with_its_own_protocol_uses_it(patient, site_a):
    protocol = FollowUpProtocol.objects.create(name="Short")
    ProtocolEvent.objects.create(
        protocol=protocol, code="m1", label="1 month", window_start_day=25, invite_day=30, window_end_day=40
    )
    SiteFollowUpProtocol.objects.create(site=site_a, protocol=protocol)

    procedure = record_procedure(patient)

    assert set(_events(procedure)) == {"m1"}


def test_later_procedure_supersedes_overlapping_unsent_events_of_the_earlier_one(patient):
    # Given a procedure on day 0 and a second one on day 60
    first = record_procedure(patient)
    second = record_procedure(patient, performed_on=DAY0 + dt.timedelta(days=60))

    # Then the first procedure's 3-month survey (days 76–120) gives way to the second's early one (74–102)
    first_events, second_events = _events(first), _events(second)
    assert first_events["m3"].status == EventStatus.SUPERSEDED
    assert first_events["m3"].superseded_by == second_events["early"]
    assert first_events["early"].status == EventStatus.SCHEDULED
    # The 12-month surveys (335–395 vs 395–455) overlap on day 395 only: the later procedure still leads
    assert first_events["m12"].status == EventStatus.SUPERSEDED
    assert all(e.status == EventStatus.SCHEDULED for e in second_events.values() if e.invite_on)

    # When the second date was a typo and moves far away, the first procedure's events come back
    second.performed_on = DAY0 + dt.timedelta(days=500)
    second.save()
    with queued_tasks_run_here():
        procedure_changed.send(sender=None, procedure_id=second.pk)
    assert _events(first)["m3"].status == EventStatus.SCHEDULED


def test_dxa_action_due_at_three_months_without_recent_dxa(site_a):
    patient = PatientFactory(site=site_a, last_dxa_on=DAY0 - dt.timedelta(days=800), osteoporosis_therapy="none")
    procedure = record_procedure(patient)

    actions = {a.kind: a for a in BoneHealthAction.objects.filter(procedure=procedure)}
    assert actions[BoneHealthActionKind.DXA].due_on == DAY0 + dt.timedelta(days=83)
    assert actions[BoneHealthActionKind.OSTEOPOROSIS_THERAPY].due_on == DAY0 + dt.timedelta(days=14)


def test_no_bone_health_actions_with_recent_dxa_and_therapy(site_a):
    patient = PatientFactory(site=site_a, last_dxa_on=DAY0 - dt.timedelta(days=300), osteoporosis_therapy="denosumab")
    record_procedure(patient)
    assert not BoneHealthAction.objects.filter(patient=patient).exists()


def test_no_therapy_action_for_a_metastasis(site_a):
    patient = PatientFactory(site=site_a, last_dxa_on=DAY0, osteoporosis_therapy="none")
    record_procedure(patient, indication="metastasis")
    assert not BoneHealthAction.objects.filter(patient=patient).exists()


@pytest.mark.parametrize("reason", ["withdrawn", "deceased"])
def test_withdrawal_or_death_cancels_every_open_event(patient, reason):
    procedure = record_procedure(patient)

    patient_contact_stopped.send(sender=None, patient_id=patient.pk, reason=reason)

    statuses = {e.status for e in FollowUpEvent.objects.filter(procedure=procedure)}
    assert statuses == {EventStatus.CANCELLED}


def test_windows_closed_before_recording_are_missed_without_a_call(patient, clock):
    clock.set(at(60))
    procedure = record_procedure(patient)
    events = _events(procedure)
    assert events["early"].status == EventStatus.MISSED
    assert events["m3"].status == EventStatus.SCHEDULED
    assert not patient.worklist_items.exists()


def test_consent_recorded_after_the_procedure_plans_follow_up(site_a):
    patient = PatientFactory(site=site_a, consent_status=ConsentStatus.PENDING, consent_date=None)
    procedure = record_procedure(patient)
    patient.consent_status, patient.consent_date = ConsentStatus.CONSENTED, DAY0
    patient.save()

    services.followup_schedule_patient(patient_id=patient.pk)

    assert set(_events(procedure)) == {"baseline", "early", "m3", "m12"}
