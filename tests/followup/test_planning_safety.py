"""Planning that is never lost and re-planning that never re-dates an event a sweep just opened."""

import datetime as dt
import threading

import pytest
from django.db import connection, transaction

from registry.followup import dispatch, lifecycle, services
from registry.followup.models import EventStatus, FollowUpEvent
from registry.patients.models import ConsentStatus
from registry.procedures.models import Procedure
from tests.factories import PatientFactory, ProcedureFactory
from tests.followup.conftest import DAY0, at, record_procedure
from tests.utils import wait_for


def sweep(clock, instant):
    clock.set(instant)
    return dispatch.followup_sweep(now=instant.astimezone(dt.UTC), queue=lambda pk: None)


@pytest.mark.django_db
def test_a_procedure_whose_planning_was_lost_is_planned_by_the_sweep_after_the_grace(patient, clock, settings):
    # Given a procedure saved at noon whose announcement never reached follow-up
    settings.FOLLOWUP_PLAN_GRACE_SECONDS = 120
    procedure = ProcedureFactory(patient=patient, performed_on=DAY0)
    assert not FollowUpEvent.objects.filter(procedure=procedure).exists()

    # When sweeps run: within the grace (its own planning may still be on its way), then after it
    assert sweep(clock, at(0, 12, 1)).planned == 0
    report = sweep(clock, at(0, 12, 3))

    # Then it is planned like any other, once
    assert report.planned == 1
    events = dict(FollowUpEvent.objects.filter(procedure=procedure).values_list("event_code", "status"))
    assert events == {
        "baseline": EventStatus.SCHEDULED,
        "early": EventStatus.SCHEDULED,
        "m3": EventStatus.SCHEDULED,
        "m12": EventStatus.SCHEDULED,
    }
    assert sweep(clock, at(0, 12, 4)).planned == 0


@pytest.mark.django_db
def test_the_sweep_leaves_alone_what_must_not_be_planned(site_a, clock):
    # A patient without consent, and a case whose every window closed years ago (a legacy import)
    pending = PatientFactory(site=site_a, consent_status=ConsentStatus.PENDING, consent_date=None)
    ProcedureFactory(patient=pending, performed_on=DAY0)
    old = ProcedureFactory(patient=PatientFactory(site=site_a), performed_on=DAY0 - dt.timedelta(days=800))

    assert sweep(clock, at(1)).planned == 0
    assert not FollowUpEvent.objects.exists()
    assert Procedure.objects.filter(pk=old.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_replanning_waits_for_a_sweep_opening_the_event_and_keeps_the_dates_its_link_names(
    site_a, clock, default_protocol
):
    # Given a planned procedure whose early window is being opened by a sweep (row locked, not committed)
    patient = PatientFactory(site=site_a, email="p@example.test", osteoporosis_therapy="denosumab")
    procedure = record_procedure(patient)
    early = FollowUpEvent.objects.get(procedure=procedure, event_code="early")
    locked, release, replanned = threading.Event(), threading.Event(), threading.Event()

    def sweep_opening():
        try:
            with transaction.atomic():
                lifecycle.open_events(event_ids=[early.pk], now=at(14))
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    def coordinator_corrects_the_date():
        try:
            Procedure.objects.filter(pk=procedure.pk).update(performed_on=DAY0 + dt.timedelta(days=2))
            services.followup_replan_procedure(procedure_id=procedure.pk, now=at(14))
            replanned.set()
        finally:
            connection.close()

    opener = threading.Thread(target=sweep_opening)
    opener.start()
    assert locked.wait(30)

    # When the procedure date is corrected meanwhile: the re-plan waits on the event's lock
    replanner = threading.Thread(target=coordinator_corrects_the_date)
    replanner.start()
    wait_for(_someone_waits_on_a_lock, message="the re-plan waiting on the event lock")
    assert not replanned.is_set()
    release.set()
    opener.join(30)
    replanner.join(30)

    # Then the invited event keeps the dates of its link; the unsent ones follow the new date
    early.refresh_from_db()
    assert (early.status, early.window_opens_on, early.window_closes_on) == (
        EventStatus.INVITED,
        DAY0 + dt.timedelta(days=14),
        DAY0 + dt.timedelta(days=42),
    )
    m3 = FollowUpEvent.objects.get(procedure=procedure, event_code="m3")
    assert (m3.status, m3.invite_on) == (EventStatus.SCHEDULED, DAY0 + dt.timedelta(days=2 + 83))


def _someone_waits_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db
def test_a_failing_receiver_queues_the_planning_task_which_plans_once_the_cause_is_fixed(
    patient, clock, monkeypatch, django_capture_on_commit_callbacks
):
    from registry.followup import tasks
    from registry.followup.models import FollowUpProtocol

    queued = []
    monkeypatch.setattr(tasks.followup_schedule_procedure_task, "delay", queued.append)
    # Given planning that cannot work for now (no default protocol: an administrator's mistake)
    FollowUpProtocol.objects.update(is_default=False)

    # When case capture announces a procedure
    with django_capture_on_commit_callbacks(execute=True):
        procedure = record_procedure(patient)

    # Then nothing is planned, but the planning task is queued rather than left to a log line
    assert not FollowUpEvent.objects.filter(procedure=procedure).exists()
    assert queued == [procedure.pk]

    # And once the protocol is back, the task (as a worker runs it) plans the procedure
    FollowUpProtocol.objects.filter(pk=FollowUpProtocol.objects.order_by("id").first().pk).update(is_default=True)
    assert tasks.followup_schedule_procedure_task(procedure.pk) == 4
    assert FollowUpEvent.objects.filter(procedure=procedure).count() == 4
