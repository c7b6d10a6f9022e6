"""Sending a batch: what a retried task takes back after the database went away, and emails
rendered once per kind, language, site and closing date that equal a full render."""

import datetime as dt

import pytest
from django.template.loader import render_to_string
from django.utils import translation

from registry.followup import dispatch, emails
from registry.followup.models import MessageKind, MessageStatus, OutboundMessage
from tests.factories import PatientFactory
from tests.followup.conftest import at, record_procedure

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_due(site_a, clock):
    """Three patients whose early invitations are due on day 14 (windows opened by a sweep)."""
    patients = [
        PatientFactory(site=site_a, given_name=name, email=f"{user}@example.test", preferred_language=lang)
        for name, user, lang in (("Lucía", "lucia", "es"), ("Tom & Jerry <b>", "tom", "en"), ("Ana", "ana", "en"))
    ]
    for patient in patients:
        record_procedure(patient)
    clock.set(at(14))
    queued = []
    dispatch.followup_sweep(now=at(14).astimezone(dt.UTC), queue=queued.append)
    return sorted(queued)


def test_a_retried_task_takes_back_the_claims_it_could_not_give_back_and_no_one_else_does(three_due, mailoutbox):
    # Given a send task whose claims stayed "sending" (the database went away before it could
    # give them back): its claim counted the attempt
    OutboundMessage.objects.filter(pk__in=three_due).update(
        status=MessageStatus.SENDING, claimed_at=at(14), claimed_by="task-1", attempts=1
    )

    # When another task (a second doorbell) runs the same batch: nothing is sent twice
    outcomes = dispatch.messages_send(message_ids=three_due, now=at(14), owner="task-2")
    assert {outcome.status for outcome in outcomes.values()} == {"not_claimed"}
    assert mailoutbox == []

    # Then the retry of the task that holds them sends them at once, without waiting for the lease
    # (and without counting a second attempt)
    outcomes = dispatch.messages_send(message_ids=three_due, now=at(14, 10, 1), owner="task-1")
    assert [outcomes[pk].status for pk in three_due] == ["sent"] * 3
    assert len(mailoutbox) == 3
    assert set(OutboundMessage.objects.filter(pk__in=three_due).values_list("status", "attempts")) == {("sent", 1)}


def test_a_retry_records_what_the_smtp_server_accepted_before_the_database_went_away_and_never_resends_it(
    three_due, mailoutbox
):
    # Given a batch whose first message the SMTP server accepted while the database was away
    first, *rest = three_due
    OutboundMessage.objects.filter(pk__in=three_due).update(
        status=MessageStatus.SENDING, claimed_at=at(14), claimed_by="task-1"
    )

    # When the task's retry runs with what was accepted
    outcomes = dispatch.messages_send(message_ids=three_due, now=at(14, 10, 1), owner="task-1", accepted=[first])

    # Then the first is recorded as sent, and only the other two go out
    assert [outcomes[pk].status for pk in three_due] == ["sent"] * 3
    expected = sorted(OutboundMessage.objects.filter(pk__in=rest).values_list("to_address", flat=True))
    assert sorted(email.to[0] for email in mailoutbox) == expected
    assert len(expected) == 2
    assert OutboundMessage.objects.get(pk=first).status == MessageStatus.SENT


def _full_render(message: OutboundMessage) -> tuple[str, str, str]:
    """The email as the templates render it for this one message, without the shared rendering."""
    context = emails.patient_context(message)
    folder = f"followup/email/{message.language}/survey_invitation"
    with translation.override(message.language):
        return (
            " ".join(render_to_string(f"{folder}_subject.txt", context).split()),
            render_to_string(f"{folder}.txt", context),
            render_to_string(f"{folder}.html", context),
        )


def test_emails_rendered_once_per_kind_language_and_site_equal_a_full_render_of_each(three_due, site_a):
    # Given the shared renderings are fresh, and names that need escaping in HTML
    emails.forget_rendered()
    messages = OutboundMessage.objects.filter(kind=MessageKind.INVITATION).select_related(
        "site", "patient", "invitation__event"
    )
    for message in messages:
        message.language = message.patient.preferred_language
        # When each email is built (two languages: two renderings, then substitutions)
        email = emails.build_email(message)
        # Then it is exactly what a full render of that message gives
        subject, text, html = _full_render(message)
        assert email.subject == subject
        assert email.body == text
        assert email.alternatives[0].content == html
        assert message.patient.given_name in text
    assert emails.rendered_count() == 2
    assert (
        "Tom &amp; Jerry &lt;b&gt;"
        in emails.build_email(messages.get(patient__given_name__startswith="Tom")).alternatives[0].content
    )
