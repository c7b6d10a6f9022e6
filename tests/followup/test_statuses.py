"""What the coordinator reads: "Invited" only once the SMTP server accepted the invitation; every
email's state (due, sent, failed, cancelled and why) on the patient page and in the API."""

import datetime as dt

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from registry.followup import dispatch, services
from registry.followup.models import (
    EventStatus,
    FollowUpEvent,
    MessageKind,
    MessageStatus,
    OutboundMessage,
    WorklistItem,
    WorklistKind,
)
from tests.factories import PatientFactory
from tests.followup.conftest import at, record_procedure

pytestmark = pytest.mark.django_db


def sweep(clock, instant):
    clock.set(instant)
    queued = []
    dispatch.followup_sweep(now=instant.astimezone(dt.UTC), queue=queued.append)
    return queued


def early(patient):
    return FollowUpEvent.objects.get(patient=patient, event_code="early")


def event_row(client_for, user, patient) -> str:
    # A fresh login each time: the frozen clock moves by hours, past the idle-session limit.
    page = client_for(user).get(reverse("patients:detail", args=[patient.pk])).content.decode()
    section = page[page.index('class="followup-events"') :]
    row_start = section.index("2–6 weeks")  # the early time point's label
    return section[row_start : section.index("</tr>", row_start)]


def api_event(user, patient) -> dict:
    client = APIClient()
    client.force_authenticate(user)
    rows = client.get("/api/followup-events/", {"patient": patient.pk}).json()
    rows = rows.get("results", rows)
    return next(row for row in rows if row["event_code"] == "early")


def test_invitation_queued_for_the_morning_says_due_and_invited_only_once_accepted(
    patient, clock, coordinator_a, client_for, smtp_settings
):
    # Given the early window opening at 07:30 site time (Madrid): the invitation is due at 09:00
    record_procedure(patient)
    assert sweep(clock, at(14, 7, 30)) == []
    event = early(patient)
    assert event.status == EventStatus.INVITED  # the link exists, nothing was sent

    # Then the page and the API say when it is due, not "Invited"
    row = event_row(client_for, coordinator_a, patient)
    assert "Invitation due 16 Feb 2026 09:00" in row
    assert "Invited" not in row
    assert "Survey invitation: due 16 Feb 2026 09:00" in row
    assert "Survey reminder: due 19 Feb 2026 09:00" in row
    data = api_event(coordinator_a, patient)
    assert data["status"] == "invited" and data["status_label"] == "Invitation due 16 Feb 2026 09:00"
    assert [(m["kind"], m["status"]) for m in data["messages"]] == [
        ("invitation", "pending"),
        ("reminder", "pending"),
        ("reminder", "pending"),
    ]

    # When the SMTP server accepts it at 09:00
    for pk in sweep(clock, at(14, 9)):
        assert dispatch.message_send(message_id=pk).status == "sent"

    # Then "Invited" with the time it was accepted
    row = event_row(client_for, coordinator_a, patient)
    assert "Invited 16 Feb 2026 09:00" in row
    assert "Survey invitation: sent 16 Feb 2026 09:00" in row
    data = api_event(coordinator_a, patient)
    assert data["status_label"] == "Invited 16 Feb 2026 09:00"
    assert data["messages"][0]["status"] == "sent" and data["messages"][0]["sent_at"]


def test_failed_and_cancelled_emails_say_why(site_a, clock, coordinator_a, client_for, smtp_settings):
    patient = PatientFactory(site=site_a, email="nobody@example.test", osteoporosis_therapy="bisphosphonate")
    record_procedure(patient)
    smtp_settings.handler.refuse_code = "550 5.1.1 No such user"
    smtp_settings.handler.refuse_next = 1

    (pk,) = sweep(clock, at(14, 10))
    assert dispatch.message_send(message_id=pk).status == "failed"

    row = event_row(client_for, coordinator_a, patient)
    assert "Invitation failed" in row
    assert "Survey invitation: failed: SMTPDataError 550: 5.1.1 No such user" in row
    assert row.count("Survey reminder: cancelled: An earlier email to this address was refused permanently.") == 2


def test_a_permanent_refusal_cancels_the_addresss_later_mail_and_puts_one_item_on_the_worklist(
    site_a, clock, smtp_settings
):
    # Given a patient with two procedures whose invitations are both planned to one bad address
    patient = PatientFactory(site=site_a, email="gone@example.test", osteoporosis_therapy="bisphosphonate")
    other = PatientFactory(site=site_a, email="fine@example.test", osteoporosis_therapy="bisphosphonate")
    record_procedure(patient)
    record_procedure(other)
    queued = sweep(clock, at(14, 10))
    assert len(queued) == 2

    # When the server answers 550 for the patient's address
    smtp_settings.handler.refuse_code = "550 5.1.1 No such user"
    smtp_settings.handler.refuse_next = 1
    first = OutboundMessage.objects.get(patient=patient, kind=MessageKind.INVITATION)
    assert dispatch.message_send(message_id=first.pk).status == "failed"

    # Then every later message to that address is cancelled, others go on, and one item is open
    statuses = dict(
        OutboundMessage.objects.filter(to_address="gone@example.test").values_list("kind", "status").distinct()
    )
    assert statuses == {MessageKind.INVITATION: MessageStatus.FAILED, MessageKind.REMINDER: MessageStatus.CANCELLED}
    assert not OutboundMessage.objects.filter(to_address="fine@example.test", status=MessageStatus.CANCELLED).exists()
    items = WorklistItem.objects.filter(patient=patient, kind=WorklistKind.FAILED_EMAIL, status="open")
    assert [item.message_id for item in items] == [first.pk]
    # Later sweeps ring nothing more for that address
    assert sweep(clock, at(21, 10)) == [
        m.pk
        for m in OutboundMessage.objects.filter(
            to_address="fine@example.test", due_at__lte=at(21, 10), status="pending"
        )
    ]


def test_opted_out_patient_sees_cancelled_with_the_reason(patient, clock, coordinator_a, client_for):
    record_procedure(patient)
    sweep(clock, at(14, 7))
    services.followup_stop_contact(patient_id=patient.pk, reason="opted_out", now=at(14, 8))

    row = event_row(client_for, coordinator_a, patient)
    assert "Invitation cancelled" in row
    assert "Survey invitation: cancelled: Patient opted_out." in row
