"""Outages with real processes (worker, beat, Redis, PostgreSQL, SMTP sink), counted at the sink:
every due message arrives, none twice, within a few sweeps (one sweep = one minute of the clock).

Redis is "wiped" by FLUSHDB of the test broker's own database; PostgreSQL is "restarted" by
terminating every connection to the test database (the shared servers are never restarted).
"""

import collections
import datetime as dt
import os
import signal
import threading

import factory
import psycopg
import pytest
import redis
from django.conf import settings
from django.db import connection

from registry.followup import dispatch
from registry.followup.emails import message_id_for
from registry.followup.models import MessageStatus, OutboundMessage
from tests.conftest import database_url_for_tests
from tests.factories import PatientFactory
from tests.followup.conftest import at
from tests.followup.worker_helpers import settled, sweep_ran_at
from tests.utils import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

T0 = at(14)  # Monday 16 February 2026, 10:00 in Madrid: every early invitation is due


def _due_invitations(site, n: int) -> list[int]:
    """``n`` patients whose early invitations fall due at T0, their windows opened by a sweep."""
    from registry.followup import services
    from tests.factories import ProcedureFactory

    patients = PatientFactory.create_batch(
        n,
        site=site,
        osteoporosis_therapy="denosumab",
        last_dxa_on=at(0).date(),
        email=factory.Sequence(lambda i: f"p{i}@example.test"),
    )
    for patient in patients:
        procedure = ProcedureFactory(patient=patient, performed_on=at(0).date())
        services.followup_schedule_procedure(procedure_id=procedure.pk, now=at(0, 12))
    dispatch.followup_sweep(now=T0, queue=lambda pk: None)
    # Nothing rung yet: the tests ring (or lose) the doorbells themselves.
    OutboundMessage.objects.update(dispatched_at=None)
    return list(OutboundMessage.objects.filter(kind="invitation").values_list("pk", flat=True))


def deliveries(smtp_server) -> collections.Counter:
    return collections.Counter(r.message_id for r in smtp_server.handler.received)


def assert_each_invitation_once(smtp_server, ids: list[int]):
    counts = deliveries(smtp_server)
    expected = {message_id_for(m) for m in OutboundMessage.objects.filter(pk__in=ids)}
    assert set(counts) == expected
    assert max(counts.values()) == 1
    assert OutboundMessage.objects.filter(pk__in=ids, status=MessageStatus.SENT).count() == len(ids)


def minute(n: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=n)


def test_redis_wiped_with_500_sends_queued_all_go_out_within_three_sweeps_none_twice(
    site_a, clock_file, smtp_server, worker_env, start_worker, start_beat
):
    # Given 500 invitations due and their send tasks queued in Redis, no worker yet
    ids = _due_invitations(site_a, 500)
    clock_file.set(T0)
    queued = dispatch.followup_sweep(now=T0).dispatched
    assert len(queued) == 500
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    assert sum(broker.llen(queue) for queue in settings.CELERY_QUEUE_NAMES) == 25  # 25 batches of 20

    # When the broker's database is wiped (FLUSHDB of the test broker db only) and a worker and beat start
    broker.flushdb()
    start_worker(env=worker_env, concurrency=2)
    start_beat(env=worker_env)

    # Then sweeps in the same minute and the next one wait (the doorbell rang less than 2 minutes ago)
    wait_for(lambda: sweep_ran_at(T0), timeout=60, message="a sweep after the wipe")
    clock_file.set(minute(1))
    wait_for(lambda: sweep_ran_at(minute(1)), timeout=60, message="sweep 1")
    assert deliveries(smtp_server) == collections.Counter()
    # And the second sweep rings again: all 500 arrive, each once, by the third
    clock_file.set(minute(2))
    wait_for(lambda: sweep_ran_at(minute(2)), timeout=60, message="sweep 2")
    wait_for(lambda: len(smtp_server.handler.received) >= 500 and settled(minute(2)), timeout=240, message="500")
    clock_file.set(minute(3))
    wait_for(lambda: sweep_ran_at(minute(3)), timeout=60, message="sweep 3")
    assert_each_invitation_once(smtp_server, ids)


def test_database_connections_cut_mid_dispatch_nothing_twice_nothing_late(
    site_a, clock_file, smtp_server, worker_env, start_worker, start_beat
):
    # Given 200 invitations due and a worker sending them
    ids = _due_invitations(site_a, 200)
    start_worker(env=worker_env, concurrency=2)
    clock_file.set(T0)
    dispatch.followup_sweep(now=T0)

    # When, mid-dispatch, every connection to the test database is terminated (a restart, twice)
    for threshold in (40, 120):
        wait_for(lambda t=threshold: len(smtp_server.handler.received) >= t, timeout=120, message=f"{threshold} sent")
        _terminate_other_connections()

    # Then, with beat sweeping, all arrive within three sweeps (minutes), none twice
    start_beat(env=worker_env)
    for n in (1, 2, 3):
        clock_file.set(minute(n))
        wait_for(lambda n=n: sweep_ran_at(minute(n)), timeout=90, message=f"sweep {n}")
    wait_for(lambda: settled(minute(3)) and len(smtp_server.handler.received) >= 200, timeout=120, message="200")
    assert_each_invitation_once(smtp_server, ids)


def _terminate_other_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_worker_killed_mid_batch_sends_the_rest_after_the_lease_at_most_the_window_twice(
    site_a, clock_file, smtp_server, worker_env, start_worker
):
    # Given one batch of 20 invitations and a worker that is killed while the 6th is in flight
    ids = _due_invitations(site_a, 20)
    doomed = start_worker(env=worker_env, pool="solo")
    clock_file.set(T0)
    handler = smtp_server.handler
    stall = threading.Event()

    # (the stall is armed before sending: a fast local sink could otherwise take all 20 first)
    handler.stall_after, handler.stall = 5, stall
    dispatch.followup_sweep(now=T0)
    assert handler.stalled.wait(60)
    assert len(handler.received) >= 5
    os.kill(doomed.proc.pid, signal.SIGKILL)
    doomed.proc.wait(timeout=10)
    stall.set()  # the server never accepted the message in flight
    left = OutboundMessage.objects.filter(pk__in=ids, status=MessageStatus.SENDING).count()
    assert 0 < left <= 20 - 5

    # When a new worker runs and the lease (600 s) has passed
    start_worker(env=worker_env, concurrency=1)
    clock_file.set(T0 + dt.timedelta(seconds=settings.FOLLOWUP_SEND_LEASE_SECONDS + 1))
    dispatch.followup_sweep(now=T0 + dt.timedelta(seconds=settings.FOLLOWUP_SEND_LEASE_SECONDS + 1))

    # Then every message arrives; only the accepted ones of the group not yet recorded as sent
    # (at most dispatch.MARK_SENT_GROUP) could come twice
    wait_for(lambda: settled(minute(11)), timeout=90, message="the rest sent")
    counts = deliveries(smtp_server)
    assert len(counts) == 20
    assert sum(1 for c in counts.values() if c > 1) <= dispatch.MARK_SENT_GROUP
    assert OutboundMessage.objects.filter(pk__in=ids, status=MessageStatus.SENT).count() == 20


def test_worker_killed_while_a_sent_mark_waits_resends_that_one_message_and_never_the_held_one(
    site_a, clock_file, smtp_server, worker_env, start_worker
):
    # Given one batch of 20 invitations, and a sink that locks their rows as it accepts the 5th,
    # so that the 5th's "sent" cannot commit (a slow commit, stretched)
    ids = _due_invitations(site_a, 20)
    handler = smtp_server.handler
    locker = psycopg.connect(database_url_for_tests())
    handler.before_reply = lambda accepted: (
        locker.execute("SELECT id FROM followup_outboundmessage WHERE id = ANY(%s) FOR UPDATE", [ids])
        if accepted == 4
        else None
    )
    doomed = start_worker(env=worker_env, pool="solo")
    clock_file.set(T0)
    dispatch.followup_sweep(now=T0)
    try:
        wait_for(lambda: _waiting_for_a_lock() > 0, timeout=60, message="the 5th message's mark waiting")
        # (the 6th message is held before its final "." while that mark waits)
        assert len(handler.received) == 5

        # When the worker is killed, its database session with it, before the mark commits
        os.kill(doomed.proc.pid, signal.SIGKILL)
        doomed.proc.wait(timeout=10)
        _terminate_lock_waiters()
    finally:
        locker.rollback()
        locker.close()
    assert OutboundMessage.objects.filter(pk__in=ids, status=MessageStatus.SENT).count() == 4
    assert len(handler.received) == 5

    # Then after the lease the rest are sent: only the 5th comes twice (the duplicate window)
    start_worker(env=worker_env, concurrency=1)
    later = T0 + dt.timedelta(seconds=settings.FOLLOWUP_SEND_LEASE_SECONDS + 1)
    clock_file.set(later)
    dispatch.followup_sweep(now=later)
    wait_for(lambda: settled(minute(11)), timeout=90, message="the rest sent")
    counts = deliveries(smtp_server)
    assert len(counts) == 20
    assert sum(1 for c in counts.values() if c > 1) <= dispatch.MARK_SENT_GROUP
    assert OutboundMessage.objects.filter(pk__in=ids, status=MessageStatus.SENT).count() == 20


LOCK_WAITERS = "FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"


def _waiting_for_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) {LOCK_WAITERS}")  # noqa: S608 - a constant
        return cursor.fetchone()[0]


def _terminate_lock_waiters() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT pg_terminate_backend(pid) {LOCK_WAITERS}")  # noqa: S608 - a constant
