"""The "stop emails" link of every patient email: a confirmation page, then everything stops."""

import pytest
from django.test import Client

from registry.followup import dispatch
from registry.followup.models import MessageKind, MessageStatus, OutboundMessage, WorklistItem, WorklistKind
from tests.surveys.conftest import answer_all, at

pytestmark = pytest.mark.django_db


def pending_reminders(link):
    return OutboundMessage.objects.filter(
        invitation=link.invitation, kind=MessageKind.REMINDER, status=MessageStatus.PENDING
    )


def test_opening_the_stop_link_only_asks(client, link):
    # Given a patient with reminders planned
    assert pending_reminders(link).exists()
    # When she opens the stop link
    response = client.get(f"{link.url}stop/")
    # Then a confirmation page asks, in her language, and nothing has changed yet
    html = response.content.decode()
    assert response.status_code == 200
    assert "¿Dejar de recibir correos con cuestionarios?" in html
    assert '<form method="post"' in html
    link.patient.refresh_from_db()
    assert not link.patient.contact_opt_out
    assert pending_reminders(link).exists()


def test_confirming_stops_every_pending_email_flags_the_patient_and_tells_the_coordinator(client, link):
    # When the patient confirms
    response = client.post(f"{link.url}stop/")
    # Then she is told it is done
    assert response.status_code == 200
    assert "No recibirá más correos con cuestionarios" in response.content.decode()
    # And she is flagged, her pending reminders are cancelled, and her coordinator's worklist says so
    link.patient.refresh_from_db()
    assert link.patient.contact_opt_out and link.patient.contact_opt_out_at is not None
    assert not pending_reminders(link).exists()
    assert WorklistItem.objects.filter(patient=link.patient, kind=WorklistKind.OPTED_OUT, status="open").count() == 1
    # And the audit trail records the change
    assert link.patient.history.filter(contact_opt_out=True).exists()
    # And no later sweep sends her anything
    queued = []
    dispatch.followup_sweep(now=at(21, 10), queue=queued.append)
    assert not OutboundMessage.objects.filter(pk__in=queued, kind__in=MessageKind.to_patient()).exists()


def test_confirming_twice_changes_nothing_more(client, link):
    client.post(f"{link.url}stop/")
    client.post(f"{link.url}stop/")
    assert WorklistItem.objects.filter(patient=link.patient, kind=WorklistKind.OPTED_OUT).count() == 1
    assert "No recibirá más" in client.get(f"{link.url}stop/").content.decode()


def test_stop_link_of_an_answered_survey_still_works(link):
    # An old email's link must keep working for "stop": the patient answered, then wants no more
    answer_all(Client(), link)
    response = Client().post(f"{link.url}stop/")
    assert response.status_code == 200
    link.patient.refresh_from_db()
    assert link.patient.contact_opt_out


def test_stop_needs_the_csrf_token(link):
    browser = Client(enforce_csrf_checks=True)
    browser.get(f"{link.url}stop/")
    assert browser.post(f"{link.url}stop/").status_code == 403
    link.patient.refresh_from_db()
    assert not link.patient.contact_opt_out


def test_unknown_stop_link_gets_the_friendly_page(client):
    response = client.get("/s/" + "x" * 43 + "/stop/")
    assert response.status_code == 404
    assert "<form" not in response.content.decode()


def test_every_patient_email_carries_the_stop_link(link, mailoutbox):
    from registry.followup.tokens import stop_url

    message = OutboundMessage.objects.filter(invitation=link.invitation).order_by("due_at").first()
    dispatch.message_send(message_id=message.pk, now=at(14, 10))
    (email,) = mailoutbox
    assert stop_url(link.invitation) in email.body
    assert stop_url(link.invitation) in email.alternatives[0][0]
