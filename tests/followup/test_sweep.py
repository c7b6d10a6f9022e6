"""The sweep and the sends, in-process on a frozen clock (the worker tests repeat the pathway for real)."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.core.events import patient_contact_stopped
from registry.followup import dispatch, services, tokens
from registry.followup.models import (
    EventStatus,
    FollowUpEvent,
    MessageKind,
    MessageStatus,
    OutboundMessage,
    SurveyInvitation,
    WorklistItem,
    WorklistKind,
)
from registry.patients.models import BoneHealthAction, BoneHealthActionKind
from tests.factories import PatientFactory
from tests.followup.conftest import DAY0, at, record_procedure, restart_procedure_ids_at

pytestmark = pytest.mark.django_db


def sweep(now):
    queued = []
    dispatch.followup_sweep(now=now.astimezone(dt.UTC), queue=queued.append)
    return queued


def run(clock, now):
    """A sweep at ``now`` and every send task it queued, as a worker would run them."""
    clock.set(now)
    return [dispatch.message_send(message_id=pk).status for pk in sweep(now)]


def early_event(procedure):
    return FollowUpEvent.objects.get(procedure=procedure, event_code="early")


def test_early_window_opens_on_day_14_with_invitation_and_two_reminders(patient, clock, mailoutbox):
    procedure = record_procedure(patient)

    assert run(clock, at(13)) == []
    assert run(clock, at(14)) == ["sent"]

    event = early_event(procedure)
    assert event.status == EventStatus.INVITED
    messages = list(OutboundMessage.objects.filter(invitation__event=event).order_by("due_at"))
    assert [(m.kind, m.due_at) for m in messages] == [
        (MessageKind.INVITATION, at(14)),
        (MessageKind.REMINDER, at(17)),
        (MessageKind.REMINDER, at(21)),
    ]
    assert [m.status for m in messages] == ["sent", "pending", "pending"]
    assert len(mailoutbox) == 1


def test_messages_wait_for_nine_in_the_sites_time_zone(site_b, clock):
    patient = PatientFactory(site=site_b, email="pat@example.test", osteoporosis_therapy="denosumab")
    procedure = record_procedure(patient)
    # 03:00 in Boston (08:00 UTC, working hours in Madrid) on day 14
    night = at(14, 3, tz="America/New_York")

    assert run(clock, night) == []

    invitation = OutboundMessage.objects.get(invitation__event=early_event(procedure), kind=MessageKind.INVITATION)
    assert invitation.due_at == at(14, 9, tz="America/New_York")
    assert run(clock, at(14, 9, 1, tz="America/New_York")) == ["sent"]


def test_evening_message_goes_out_next_morning(patient, clock):
    procedure = record_procedure(patient)
    run(clock, at(14, 19, 30))
    invitation = OutboundMessage.objects.get(invitation__event=early_event(procedure), kind=MessageKind.INVITATION)
    assert invitation.due_at == at(15, 9)


def test_a_second_sweep_and_a_second_send_task_do_nothing(patient, clock, mailoutbox):
    record_procedure(patient)
    clock.set(at(14))
    queued = sweep(at(14))

    assert sweep(at(14, 10, 1)) == []  # rung already
    assert [dispatch.message_send(message_id=pk).status for pk in queued + queued] == ["sent", "not_claimed"]
    assert len(mailoutbox) == 1


def test_completion_stops_reminders(patient, clock, mailoutbox):
    procedure = record_procedure(patient)
    run(clock, at(14))
    run(clock, at(17))

    clock.set(at(18))
    services.survey_response_record(
        patient=patient, event=early_event(procedure), source="link", answers={"vas": 3}, language="en"
    )

    assert run(clock, at(21)) == []
    assert len(mailoutbox) == 2
    assert early_event(procedure).status == EventStatus.COMPLETED
    assert SurveyInvitation.objects.get(event__procedure=procedure).submitted_at == at(18)


def test_at_most_three_messages_then_window_closes_as_missed_on_the_worklist(patient, clock, mailoutbox):
    procedure = record_procedure(patient)
    for day in (14, 17, 21, 28, 35, 42):
        run(clock, at(day))
    assert len(mailoutbox) == 3

    run(clock, at(43))

    assert early_event(procedure).status == EventStatus.MISSED
    item = WorklistItem.objects.get(kind=WorklistKind.MISSED_EVENT)
    assert item.event == early_event(procedure)
    assert item.due_on == DAY0 + dt.timedelta(days=43)
    # The link no longer opens the survey
    invitation = SurveyInvitation.objects.get(event__procedure=procedure)
    assert not invitation.is_usable(at(43))


@pytest.mark.parametrize("reason", ["withdrawn", "opted_out", "deceased"])
def test_stopped_contact_sends_no_later_message(patient, clock, mailoutbox, reason):
    procedure = record_procedure(patient)
    run(clock, at(14))
    assert len(mailoutbox) == 1

    # When the patient withdraws, opts out or dies (case capture announces it)
    if reason == "opted_out":
        patient.contact_opt_out = True
    elif reason == "withdrawn":
        patient.consent_status = "withdrawn"
    else:
        patient.deceased_on = DAY0 + dt.timedelta(days=15)
    patient.save()
    patient_contact_stopped.send(sender=None, patient_id=patient.pk, reason=reason)

    # Then no reminder, and no later invitation, ever goes out
    for day in (17, 21, 43, 83, 86, 90, 350, 353, 357, 400):
        run(clock, at(day))
    assert [m.to for m in mailoutbox if patient.email in m.to] == [[patient.email]]
    assert not OutboundMessage.objects.filter(status=MessageStatus.PENDING, patient=patient).exists()
    if reason == "opted_out":
        # Bone-health reminders go to staff, not the patient: they carry on (the DXA is still due)
        assert {m.to[0] for m in mailoutbox[1:]} == {patient.site.contact_email, patient.site.clinician_email}
        # The coordinator is told, and phones at the later time points instead
        assert WorklistItem.objects.filter(kind=WorklistKind.OPTED_OUT).count() == 1
        assert WorklistItem.objects.filter(kind=WorklistKind.PHONE_DUE, event__event_code="m3").exists()
    else:
        assert len(mailoutbox) == 1
        assert not FollowUpEvent.objects.filter(procedure=procedure, status__in=EventStatus.open()).exists()
        assert not WorklistItem.objects.filter(kind=WorklistKind.MISSED_EVENT).exists()


def test_send_task_rechecks_a_patient_who_withdrew_without_announcement(patient, clock, mailoutbox):
    record_procedure(patient)
    clock.set(at(14))
    queued = sweep(at(14))
    patient.consent_status = "withdrawn"
    patient.save()

    assert dispatch.message_send(message_id=queued[0]).status == "cancelled"
    assert mailoutbox == []


def test_patient_without_email_is_put_on_the_phone_list_when_the_window_opens(site_a, clock, mailoutbox):
    patient = PatientFactory(site=site_a, email="", osteoporosis_therapy="bisphosphonate", last_dxa_on=DAY0)
    procedure = record_procedure(patient)

    run(clock, at(14))

    item = WorklistItem.objects.get(kind=WorklistKind.PHONE_DUE)
    assert item.event == early_event(procedure)
    assert mailoutbox == []
    # A phone answer completes the event and closes the call
    services.survey_response_record(patient=patient, event=item.event, source="phone", answers={"vas": 4})
    item.refresh_from_db()
    assert item.status == "done"


def test_invitation_email_is_in_the_patients_language_with_first_name_only(site_a, clock, mailoutbox):
    patient = PatientFactory(
        site=site_a, given_name="Lucía", family_name="Zamora", email="lz@example.test", preferred_language="es"
    )
    record_procedure(patient)
    run(clock, at(14))

    message = mailoutbox[0]
    html = message.alternatives[0][0]
    invitation = SurveyInvitation.objects.get()
    token = tokens.invitation_token(invitation)
    assert message.subject == "Un breve cuestionario de " + site_a.name
    assert "Estimado/a Lucía" in message.body and "Lucía" in html
    assert f"/s/{token}/" in message.body and f"/s/{token}/stop/" in message.body
    assert f"/s/{token}/stop/" in html
    for secret in ("Zamora", patient.study_id, patient.mrn, "1945"):
        assert secret not in message.body and secret not in html and secret not in message.subject
    assert message.extra_headers["List-Unsubscribe"] == f"<{tokens.stop_url(invitation)}>"


def test_a_due_bone_health_action_goes_on_the_worklist_without_an_email_of_its_own(
    site_a, clock, mailoutbox, coordinator_a
):
    # (The staff learn of it from their daily digest: tests/followup/test_staff_mail.py.)
    patient = PatientFactory(site=site_a, email="", osteoporosis_therapy="bisphosphonate", last_dxa_on=None)
    record_procedure(patient)
    action = BoneHealthAction.objects.get(kind=BoneHealthActionKind.DXA)

    run(clock, at(82))
    assert not WorklistItem.objects.filter(kind=WorklistKind.BONE_HEALTH).exists()
    run(clock, at(83))
    run(clock, at(90))
    assert mailoutbox == []
    assert WorklistItem.objects.filter(kind=WorklistKind.BONE_HEALTH, status="open").count() == 1

    services.bone_health_action_resolve(
        action=action, acting_user=coordinator_a, status="done", done_on=DAY0 + dt.timedelta(days=90)
    )
    run(clock, at(97))
    assert not WorklistItem.objects.filter(kind=WorklistKind.BONE_HEALTH, status="open").exists()


def test_a_send_left_half_done_by_a_dead_worker_is_sent_again_after_the_lease(patient, clock, mailoutbox):
    record_procedure(patient)
    clock.set(at(14))
    (message_id,) = sweep(at(14))
    # A worker claimed it and died before the SMTP server accepted
    OutboundMessage.objects.filter(pk=message_id).update(status="sending", claimed_at=at(14))

    assert run(clock, at(14, 10, 5)) == []  # within the lease: not touched
    assert run(clock, at(14, 10, 11)) == ["sent"]
    assert len(mailoutbox) == 1


def test_temporary_smtp_refusal_is_retried_with_back_off_then_sent(patient, clock, smtp_settings):
    record_procedure(patient)
    smtp_settings.handler.refuse_next = 2
    clock.set(at(14))
    (message_id,) = sweep(at(14))

    first = dispatch.message_send(message_id=message_id)
    second = dispatch.message_send(message_id=message_id)
    third = dispatch.message_send(message_id=message_id)

    assert (first.status, first.retry_in, second.retry_in, third.status) == ("retry", 1, 2, "sent")
    message = OutboundMessage.objects.get(pk=message_id)
    assert (message.status, message.attempts) == ("sent", 3)
    assert len(smtp_settings.handler.received) == 1


def test_permanent_refusal_fails_at_once_onto_the_worklist(patient, clock, smtp_settings):
    record_procedure(patient)
    smtp_settings.handler.refusing, smtp_settings.handler.refuse_code = True, "550 5.1.1 No such user"
    clock.set(at(14))
    (message_id,) = sweep(at(14))

    assert dispatch.message_send(message_id=message_id).status == "failed"

    message = OutboundMessage.objects.get(pk=message_id)
    assert message.status == "failed" and "550" in message.last_error
    assert WorklistItem.objects.get(kind=WorklistKind.FAILED_EMAIL).message == message


def test_temporary_refusals_end_as_failed_after_the_last_attempt(patient, clock, smtp_settings, settings):
    settings.FOLLOWUP_SEND_MAX_ATTEMPTS = 3
    record_procedure(patient)
    smtp_settings.handler.refusing = True
    clock.set(at(14))
    (message_id,) = sweep(at(14))

    outcomes = [dispatch.message_send(message_id=message_id).status for _ in range(4)]

    assert outcomes == ["retry", "retry", "failed", "not_claimed"]
    assert WorklistItem.objects.filter(kind=WorklistKind.FAILED_EMAIL).count() == 1


def test_connection_refused_is_temporary(patient, clock, settings):
    from tests.followup.smtp import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    record_procedure(patient)
    clock.set(at(14))
    (message_id,) = sweep(at(14))

    assert dispatch.message_send(message_id=message_id).status == "retry"
    assert "ConnectionRefused" in OutboundMessage.objects.get(pk=message_id).last_error


def idle_sweep(now):
    """A sweep that must find nothing to do, and the queries it took."""

    def nothing_is_due(message_id):
        raise AssertionError(f"message {message_id} rung")

    with CaptureQueriesContext(connection) as queries:
        report = dispatch.followup_sweep(now=now.astimezone(dt.UTC), queue=nothing_is_due)
    assert not any(report.as_dict().values()), report.as_dict()
    return [query["sql"] for query in queries.captured_queries]


def test_a_sweep_with_nothing_due_costs_the_same_few_queries_whatever_the_registry_size(site_a, clock):
    # Given one patient whose invitation went out on day 14, reminders still to come
    first = record_procedure(PatientFactory(site=site_a))
    assert run(clock, at(14)) == ["sent"]

    # When a minute later nothing is due
    clock.set(at(14, 10, 1))
    small = idle_sweep(at(14, 10, 1))

    # And the registry then grows, its procedure ids far past one slice of the lost-planning walk
    restart_procedure_ids_at(first.pk + 3 * dispatch.PLAN_SCAN_IDS)
    for _ in range(20):
        record_procedure(PatientFactory(site=site_a))
    assert run(clock, at(14, 10, 2)) == ["sent"] * 20
    clock.set(at(14, 10, 3))
    large = idle_sweep(at(14, 10, 3))

    # Then the idle sweep costs the same queries at both sizes: one probe per step (reclaim, sites'
    # dates, close x2 statuses, open, bone health, due messages) and the lost-planning walk's four
    # (cursor with the newest id, claim of the next slice, the newest slice, the walked slice)
    assert len(small) == len(large) == 11, "\n".join(large)
