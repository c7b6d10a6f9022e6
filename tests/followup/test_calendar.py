"""The site's sending calendar: hours, sending days and public holidays, for first sends and retries."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from registry.followup import dispatch, services
from registry.followup.models import MessageKind, MessageStatus, OutboundMessage
from tests.followup.conftest import at, record_procedure

pytestmark = pytest.mark.django_db


def invitation_due_on(patient, clock, day: dt.date):
    """Record a procedure 14 days before ``day``: its early invitation falls due that day."""
    performed = day - dt.timedelta(days=14)
    clock.set(at(0, 12, base=performed))
    record_procedure(patient, performed_on=performed)


def send_due(clock, instant):
    """A sweep at ``instant`` and the sends it queued; returns the outcomes."""
    clock.set(instant)
    queued = []
    dispatch.followup_sweep(now=instant.astimezone(dt.UTC), queue=queued.append)
    return [dispatch.message_send(message_id=pk) for pk in queued]


def madrid(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return at(0, hour, minute, base=day)


def invitation(patient):
    return OutboundMessage.objects.get(patient=patient, kind=MessageKind.INVITATION)


@pytest.mark.parametrize(
    ("failed_on", "retried_at", "country", "subdivision"),
    [
        # Monday evening → Tuesday 09:00
        (dt.date(2026, 2, 16), dt.date(2026, 2, 17), "", ""),
        # Friday evening → Monday 09:00 (Monday to Friday)
        (dt.date(2026, 2, 20), dt.date(2026, 2, 23), "", ""),
        # Wednesday 3 June 2026 → Corpus Christi is a holiday in Castilla-La Mancha only → Friday
        (dt.date(2026, 6, 3), dt.date(2026, 6, 5), "ES", "CM"),
        (dt.date(2026, 6, 3), dt.date(2026, 6, 4), "ES", ""),
        # Maundy Thursday, Good Friday, the weekend and Easter Monday → Tuesday 7 April
        (dt.date(2026, 4, 1), dt.date(2026, 4, 7), "ES", "CM"),
    ],
)
def test_retry_after_hours_goes_out_at_the_next_sending_time_of_the_site(
    site_a, patient, clock, smtp_settings, settings, failed_on, retried_at, country, subdivision
):
    # Given a site in Madrid sending Monday to Friday 09:00–19:00 (with its region's holidays)
    site_a.holiday_country, site_a.holiday_subdivision = country, subdivision
    site_a.full_clean()
    site_a.save()
    settings.FOLLOWUP_SEND_RETRY_SECONDS = 120
    invitation_due_on(patient, clock, failed_on)
    smtp_settings.handler.refuse_next = 1

    # When the invitation meets a temporary error at 18:59 (the retry would be due at 19:01)
    (outcome,) = send_due(clock, madrid(failed_on, 18, 59))

    # Then it waits for the next sending time, rung by the sweep (no countdown task overnight)
    assert outcome.status == "retry" and outcome.retry_in is None
    message = invitation(patient)
    assert (message.status, message.due_at, message.dispatched_at) == (
        MessageStatus.PENDING,
        madrid(retried_at, 9),
        None,
    )
    assert send_due(clock, madrid(retried_at, 8, 59)) == []
    send_due(clock, madrid(retried_at, 9))
    message.refresh_from_db()
    assert (message.status, message.sent_at, message.attempts) == (MessageStatus.SENT, madrid(retried_at, 9), 2)


def test_a_retry_inside_the_hours_rings_its_own_task_after_the_back_off(patient, clock, smtp_settings, settings):
    settings.FOLLOWUP_SEND_RETRY_SECONDS = 120
    invitation_due_on(patient, clock, dt.date(2026, 2, 16))
    smtp_settings.handler.refuse_next = 1

    (outcome,) = send_due(clock, madrid(dt.date(2026, 2, 16), 10))

    assert (outcome.status, outcome.retry_in) == ("retry", 120)
    assert invitation(patient).due_at == madrid(dt.date(2026, 2, 16), 10, 2)


def test_first_invitation_on_a_public_holiday_waits_for_the_next_working_day(site_a, patient, clock):
    # Given a Spanish site; Friday 1 May 2026 is Labour Day
    site_a.holiday_country = "ES"
    site_a.save()
    invitation_due_on(patient, clock, dt.date(2026, 5, 1))

    # When the window opens that morning
    assert send_due(clock, madrid(dt.date(2026, 5, 1), 10)) == []

    # Then the invitation is due on Monday 4 May at 09:00, its reminders on sending days too
    times = list(OutboundMessage.objects.filter(patient=patient).order_by("due_at").values_list("due_at", flat=True))
    assert times == [
        madrid(dt.date(2026, 5, 4), 9),
        madrid(dt.date(2026, 5, 7), 9),  # + 3 days: Thursday
        madrid(dt.date(2026, 5, 11), 9),  # + 7 days: Monday
    ]


def test_site_hours_of_its_own(site_a, patient, clock):
    site_a.send_from, site_a.send_until = dt.time(10, 30), dt.time(16, 0)
    site_a.save()
    invitation_due_on(patient, clock, dt.date(2026, 2, 16))

    send_due(clock, madrid(dt.date(2026, 2, 16), 9, 30))

    assert invitation(patient).due_at == madrid(dt.date(2026, 2, 16), 10, 30)


def test_red_flag_alert_retries_at_once_whatever_the_hour(patient, clock, smtp_settings, settings):
    settings.FOLLOWUP_SEND_RETRY_SECONDS = 120
    performed = dt.date(2026, 2, 6)
    clock.set(at(0, 12, base=performed))
    procedure = record_procedure(patient, performed_on=performed)
    event = procedure.followup_events.get(event_code="early")
    clock.set(madrid(dt.date(2026, 2, 21), 22))  # Saturday night
    response = services.survey_response_record(
        patient=patient, event=event, source="phone", answers={"red_flags": {"leg_neuro": True}}
    )
    smtp_settings.handler.refuse_next = 1

    alert = OutboundMessage.objects.filter(response=response).order_by("id").first()
    outcome = dispatch.message_send(message_id=alert.pk)

    assert (outcome.status, outcome.retry_in) == ("retry", 120)
    assert OutboundMessage.objects.get(pk=alert.pk).due_at == madrid(dt.date(2026, 2, 21), 22, 2)


def test_site_calendar_settings_are_validated(site_a):
    site_a.holiday_country, site_a.holiday_subdivision = "ES", "XX"
    with pytest.raises(ValidationError) as error:
        site_a.full_clean()
    assert "holiday_subdivision" in error.value.message_dict

    site_a.holiday_country, site_a.holiday_subdivision, site_a.send_weekdays = "QQ", "", "0"
    with pytest.raises(ValidationError) as error:
        site_a.full_clean()
    assert {"holiday_country", "send_weekdays"} <= set(error.value.message_dict)
