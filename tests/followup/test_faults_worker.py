"""Faults with real processes: every due message is sent exactly once in the end, nothing is lost."""

import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from registry.followup.emails import message_id_for
from registry.followup.models import MessageStatus, OutboundMessage
from registry.followup.tasks import followup_sweep_task
from tests.factories import PatientFactory
from tests.followup.conftest import at, record_procedure
from tests.followup.worker_helpers import advance, settled, sweep_ran_at
from tests.utils import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _patients(site, n):
    patients = [
        PatientFactory(
            site=site, email=f"p{i}@example.test", osteoporosis_therapy="denosumab", last_dxa_on=at(0).date()
        )
        for i in range(n)
    ]
    for patient in patients:
        record_procedure(patient)
    return patients


def _assert_each_sent_once(smtp_server, expected: int):
    sent = list(OutboundMessage.objects.filter(status=MessageStatus.SENT))
    received = [r.message_id for r in smtp_server.handler.received]
    assert len(sent) == expected
    assert sorted(received) == sorted(message_id_for(m) for m in sent)
    assert len(set(received)) == expected
    assert not OutboundMessage.objects.exclude(status=MessageStatus.SENT).filter(due_at__lte=at(14)).exists()


def test_two_sweeps_at_once_send_each_invitation_once(site_a, clock_file, smtp_server, worker_env, start_worker):
    # Given 40 patients whose invitations fall due together, and two worker processes
    _patients(site_a, 40)
    start_worker(env=worker_env, concurrency=2)
    clock_file.set(at(14))

    # When two sweeps run at the same moment (beat late plus a sweep by hand)
    followup_sweep_task.delay()
    followup_sweep_task.delay()

    # Then every invitation arrives exactly once
    wait_for(lambda: len(smtp_server.handler.received) >= 40 and settled(at(14)), timeout=60, message="40 emails")
    time.sleep(1)
    _assert_each_sent_once(smtp_server, 40)
    assert OutboundMessage.objects.filter(kind="invitation").count() == 40


def test_worker_killed_mid_send_is_replaced_and_the_message_goes_once(
    site_a, clock_file, smtp_server, worker_env, start_worker
):
    import threading

    # Given an SMTP server that stalls in the middle of a message
    (patient,) = _patients(site_a, 1)
    smtp_server.handler.stall = threading.Event()
    doomed = start_worker(env=worker_env, pool="solo")
    clock_file.set(at(14))
    followup_sweep_task.delay()
    assert smtp_server.handler.stalled.wait(30), "the send never reached the SMTP server"

    # When the worker is killed (SIGKILL) while the message is in flight
    os.kill(doomed.proc.pid, signal.SIGKILL)
    doomed.proc.wait(timeout=10)
    smtp_server.handler.stall.set()  # the server never accepted it (421 to a dead client)
    message = OutboundMessage.objects.get(patient=patient, kind="invitation")
    assert message.status == MessageStatus.SENDING

    # And a new worker starts; once the lease is over, the sweep takes the message back
    replacement = start_worker(env=worker_env, concurrency=1)
    followup_sweep_task.delay()
    # The new worker's own sweep (the heartbeat of the killed one's already says at(14)).
    wait_for(
        lambda: any(
            "followup_sweep_task[" in line and " succeeded " in line for line in replacement.output().splitlines()
        ),
        message="sweep within the lease",
    )
    assert OutboundMessage.objects.get(pk=message.pk).status == MessageStatus.SENDING
    clock_file.set(at(14, 10, 11))
    followup_sweep_task.delay()

    # Then it is sent, once
    wait_for(
        lambda: OutboundMessage.objects.get(pk=message.pk).status == MessageStatus.SENT, timeout=90, message="resend"
    )
    _assert_each_sent_once(smtp_server, 1)
    assert OutboundMessage.objects.get(pk=message.pk).attempts == 2


def test_smtp_server_refusing_for_a_while_then_accepting(site_a, clock_file, smtp_server, worker_env, start_worker):
    # Given an SMTP server that answers 451 to the next 8 messages
    _patients(site_a, 5)
    smtp_server.handler.refuse_next = 8
    start_worker(env=worker_env, concurrency=2)
    clock_file.set(at(14))

    # When the invitations fall due
    followup_sweep_task.delay()

    # Then the sends back off and retry until accepted: each arrives once, none is lost
    wait_for(lambda: len(smtp_server.handler.received) == 5 and settled(at(14, 23)), timeout=90, message="5 emails")
    assert smtp_server.handler.refused == 8
    _assert_each_sent_once(smtp_server, 5)
    assert sum(m.attempts for m in OutboundMessage.objects.filter(kind="invitation")) == 5 + 8


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A redis-server of our own that keeps nothing on disk (a restart loses every queued task)."""

    def __init__(self, tmp_path):
        self.port = _free_port()
        self.dir = tmp_path
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server"),
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
                "--bind",
                "127.0.0.1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._up, timeout=10, message="redis-server")
        return self

    def _up(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def queued(self) -> int:
        import redis
        from django.conf import settings

        client = redis.Redis.from_url(self.url)
        return sum(client.llen(queue) for queue in settings.CELERY_QUEUE_NAMES)


def test_redis_restarted_with_tasks_queued_loses_nothing(
    site_a, tmp_path, clock_file, smtp_server, worker_env, start_worker, start_beat
):
    from registry.celery import app
    from registry.followup import dispatch
    from registry.followup.tasks import send_message_task

    # Given our own Redis with beat ringing on it, and 10 send tasks queued there before any worker runs
    redis_server = RedisServer(tmp_path).start()
    try:
        env = {**worker_env, "TEST_CELERY_BROKER_URL": redis_server.url}
        _patients(site_a, 10)
        start_beat(env=env)
        clock_file.set(at(14))
        with app.connection_for_write(redis_server.url) as conn:
            queued = dispatch.followup_sweep(
                now=at(14), queue=lambda pk: send_message_task.apply_async((pk,), connection=conn)
            ).dispatched
        assert len(queued) == 10
        assert redis_server.queued() >= 10

        # When Redis restarts empty (the queued send tasks are gone) and a worker starts
        redis_server.kill()
        redis_server.start()
        assert redis_server.queued() == 0
        start_worker(env=env, concurrency=2)

        # Then beat (which survived the restart) keeps ringing, the sweep rings again for the
        # messages still pending once their doorbell is overdue, and each goes exactly once
        wait_for(lambda: sweep_ran_at(at(14)), timeout=60, message="a sweep after the restart")
        assert smtp_server.handler.received == []
        advance(clock_file, at(14, 10, 11), timeout=90)
        wait_for(lambda: len(smtp_server.handler.received) == 10, message="10 emails")
        time.sleep(1)
        _assert_each_sent_once(smtp_server, 10)
    finally:
        redis_server.kill()
