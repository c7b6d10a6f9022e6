"""The whole 12-month pathway on a real worker and a real beat (Redis), sending to a real SMTP server.

Beat runs with the registry's schedule (the sweep every second instead of every minute) and real
time; the worker's clock is the test's clock file, so months pass in seconds. Beat only rings the
doorbell: what is due is decided by the worker's clock and the database.
"""

import pytest

from registry.followup import services, staffmail
from registry.followup.emails import message_id_for
from registry.followup.models import EventStatus, FollowUpEvent, MessageStatus, OutboundMessage
from registry.patients.models import BoneHealthAction
from tests.factories import PatientFactory
from tests.followup.conftest import at, record_procedure
from tests.followup.worker_helpers import advance

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_patient_walks_the_12_month_pathway_and_every_email_arrives_exactly_once(
    site_a, coordinator_a, clock_file, smtp_server, worker_env, start_worker, start_beat
):
    # Given a site sending every day (day 83 is a Sunday; the calendar has its own tests), a
    # consented patient with no DXA on record, treated on day 0, and a worker and beat running
    site_a.send_weekdays = "1234567"
    site_a.save()
    patient = PatientFactory(
        site=site_a, given_name="Lucía", email="lucia@example.test", osteoporosis_therapy="bisphosphonate"
    )
    procedure = record_procedure(patient)
    start_worker(env=worker_env, concurrency=2)
    start_beat(env=worker_env)
    received = smtp_server.handler.received

    def to_patient():
        return [r.subject for r in received if patient.email in r.to]

    def event(code):
        return FollowUpEvent.objects.get(procedure=procedure, event_code=code)

    # Day 13: nothing yet
    advance(clock_file, at(13))
    assert received == []

    # Day 14: the early invitation; reminders 3 and 7 days later
    advance(clock_file, at(14))
    assert to_patient() == [f"A short questionnaire from {site_a.name}"]
    advance(clock_file, at(17))
    advance(clock_file, at(21))
    assert to_patient()[1:] == [f"Reminder: a short questionnaire from {site_a.name}"] * 2

    # Day 22 the patient answers; nothing more for the early survey
    clock_file.set(at(22))
    services.survey_response_record(
        patient=patient, event=event("early"), source="link", answers={"vas": 3, "red_flags": {"wound": False}}
    )
    advance(clock_file, at(28))
    advance(clock_file, at(43))
    assert len(to_patient()) == 3

    # Day 83: the 3-month invitation; the DXA goes on the worklist, and the day's digest (planned
    # as beat's hourly run would) reaches the site's two mailboxes and its coordinator, once each
    advance(clock_file, at(83))
    assert len(to_patient()) == 4
    assert staffmail.staff_digests_plan(now=at(83)) == 3
    advance(clock_file, at(83, 10, 1))
    staff = sorted(r.to[0] for r in received if patient.email not in r.to)
    assert staff == sorted([site_a.clinician_email, site_a.contact_email, coordinator_a.email])

    # Day 84 the patient answers and the coordinator records the DXA: reminders of both stop
    clock_file.set(at(84))
    services.survey_response_record(patient=patient, event=event("m3"), source="link", answers={"vas": 2})
    services.bone_health_action_resolve(
        action=BoneHealthAction.objects.get(procedure=procedure, kind="dxa"),
        acting_user=coordinator_a,
        status="done",
        done_on=at(84).date(),
    )
    for day in (86, 90, 97):
        advance(clock_file, at(day))
    assert len(received) == 7

    # Day 350: the 12-month invitation, a reminder on day 353, an answer on day 354
    advance(clock_file, at(350))
    advance(clock_file, at(353))
    clock_file.set(at(354))
    services.survey_response_record(patient=patient, event=event("m12"), source="link", answers={"vas": 2})
    advance(clock_file, at(357))
    advance(clock_file, at(400))

    # Then: exactly these emails, each exactly once, and nothing else pending
    assert len(to_patient()) == 6
    assert len(received) == 9
    sent = OutboundMessage.objects.filter(status=MessageStatus.SENT)
    assert sent.count() == 9
    received_ids = sorted(r.message_id for r in received)
    assert received_ids == sorted(message_id_for(m) for m in sent)
    assert len(set(received_ids)) == 9
    assert not OutboundMessage.objects.filter(status__in=["pending", "sending", "failed"]).exists()
    assert {e.event_code: e.status for e in FollowUpEvent.objects.filter(procedure=procedure)} == {
        "baseline": EventStatus.MISSED,
        "early": EventStatus.COMPLETED,
        "m3": EventStatus.COMPLETED,
        "m12": EventStatus.COMPLETED,
    }
