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
from tests.followup.conftest import DAY0, at, record_procedure, restart_procedure_ids_at
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
def test_recording_a_procedure_queues_its_planning_after_commit_instead_of_planning_in_the_request(
    patient, monkeypatch, django_capture_on_commit_callbacks
):
    from registry.core.events import procedure_recorded
    from registry.followup import tasks

    queued = []
    monkeypatch.setattr(tasks.followup_schedule_procedure_task, "delay", queued.append)
    procedure = ProcedureFactory(patient=patient, performed_on=DAY0)

    # When case capture announces the procedure, inside the transaction that saved it
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        procedure_recorded.send(sender=None, procedure_id=procedure.pk)
        # Then nothing is queued before the commit, and nothing is planned in the request
        assert queued == []
    for callback in callbacks:
        callback()
    assert queued == [procedure.pk]
    assert not FollowUpEvent.objects.filter(procedure=procedure).exists()

    # And the task, as a worker runs it, plans the procedure
    assert tasks.followup_schedule_procedure_task(procedure.pk) == 4


@pytest.mark.django_db
def test_a_planning_task_that_failed_for_good_is_reconciled_by_the_sweep(patient, clock, settings):
    from registry.followup.models import FollowUpProtocol

    settings.FOLLOWUP_PLAN_GRACE_SECONDS = 120
    # Given planning that cannot work for now (no default protocol: an administrator's mistake)
    default = FollowUpProtocol.objects.get(is_default=True)
    FollowUpProtocol.objects.update(is_default=False)

    # When case capture records a procedure: its planning task runs and fails
    procedure = record_procedure(patient)
    assert not FollowUpEvent.objects.filter(procedure=procedure).exists()

    # And a sweep meanwhile does not stop at the procedure it cannot plan
    assert sweep(clock, at(0, 12, 5)).planned == 0

    # Then once the protocol is back, the next sweep plans it, once
    FollowUpProtocol.objects.filter(pk=default.pk).update(is_default=True)
    assert sweep(clock, at(0, 12, 6)).planned == 1
    assert FollowUpEvent.objects.filter(procedure=procedure).count() == 4
    assert sweep(clock, at(0, 12, 7)).planned == 0


@pytest.mark.django_db
def test_lost_planning_far_behind_the_newest_procedures_is_found_by_the_walk_of_all_procedures(site_a, clock, settings):
    settings.FOLLOWUP_PLAN_GRACE_SECONDS = 120
    # Given two procedures whose planning was lost, 30,000 and 60,000 ids behind the newest one
    # (a busy registry: 60,000 procedures recorded since), and the newest one planned as usual
    first = ProcedureFactory(patient=PatientFactory(site=site_a), performed_on=DAY0)
    restart_procedure_ids_at(first.pk + 30_000)
    second = ProcedureFactory(patient=PatientFactory(site=site_a), performed_on=DAY0)
    restart_procedure_ids_at(first.pk + 60_000)
    newest = record_procedure(PatientFactory(site=site_a))
    assert newest.pk - dispatch.PLAN_SCAN_IDS > second.pk

    # When the sweeps run, past the grace
    walk = newest.pk // dispatch.PLAN_SCAN_IDS + 1
    planned = [sweep(clock, at(0, 12, 3 + minute)).planned for minute in range(walk + 2)]

    # Then the walk (20,000 ids a sweep, from the start, then around again) plans both, once each,
    # within the sweeps it takes to walk every id once
    assert sum(planned[:walk]) == 2
    assert sum(planned) == 2
    for procedure in (first, second):
        assert FollowUpEvent.objects.filter(procedure=procedure).count() == 4


@pytest.mark.django_db
def test_a_walk_finding_more_lost_planning_than_a_sweep_plans_carries_on_after_the_last_one_planned(
    site_a, clock, settings, monkeypatch
):
    settings.FOLLOWUP_PLAN_GRACE_SECONDS = 120
    monkeypatch.setattr(dispatch, "PLAN_PER_SWEEP", 2)
    # Given three procedures whose planning was lost, at the start of one slice of the walk and
    # far behind the newest procedure (planned as usual)
    restart_procedure_ids_at(10 * dispatch.PLAN_SCAN_IDS)
    lost = [ProcedureFactory(patient=PatientFactory(site=site_a), performed_on=DAY0) for _ in range(3)]
    restart_procedure_ids_at(lost[-1].pk + 3 * dispatch.PLAN_SCAN_IDS)
    newest = record_procedure(PatientFactory(site=site_a))

    # When the sweeps run, past the grace, until the walk has been round once
    walk = newest.pk // dispatch.PLAN_SCAN_IDS + 1
    planned = [sweep(clock, at(0, 12, 3 + minute)).planned for minute in range(walk + 1)]

    # Then the sweep that finds them plans two (as many as a sweep may) and the next one the third,
    # from where the first stopped rather than from the next slice
    found = next(index for index, count in enumerate(planned) if count)
    assert planned[found : found + 2] == [2, 1]
    assert sum(planned) == 3
    for procedure in lost:
        assert FollowUpEvent.objects.filter(procedure=procedure).count() == 4
