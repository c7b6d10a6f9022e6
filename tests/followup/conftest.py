"""Helpers for the follow-up tests: a procedure day 0 and instants counted from it, in site time."""

from __future__ import annotations

import datetime as dt
import os
from contextlib import contextmanager
from zoneinfo import ZoneInfo

import pytest

from registry.core.events import procedure_recorded
from tests.factories import PatientFactory, ProcedureFactory

DAY0 = dt.date(2026, 2, 2)


def at(day: int, hour: int = 10, minute: int = 0, tz: str = "Europe/Madrid", base: dt.date = DAY0) -> dt.datetime:
    """The instant ``day`` days after the procedure at ``hour:minute`` in ``tz`` (site time)."""
    return dt.datetime.combine(base + dt.timedelta(days=day), dt.time(hour, minute), tzinfo=ZoneInfo(tz))


def record_procedure(patient, performed_on: dt.date = DAY0, **fields):
    """What case capture does: save the procedure, then announce it; the planning task the
    receiver queues runs here, as a worker would run it after the commit."""
    procedure = ProcedureFactory(patient=patient, performed_on=performed_on, **fields)
    with queued_tasks_run_here():
        procedure_recorded.send(sender=None, procedure_id=procedure.pk)
    return procedure


def restart_procedure_ids_at(value: int) -> None:
    """The next procedure gets id ``value + 1``: a busy registry's ids without its rows."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT setval(pg_get_serial_sequence('procedures_procedure', 'id'), %s)", [value])


@contextmanager
def queued_tasks_run_here():
    """On-commit callbacks registered in the block run at its end, and the tasks they queue run
    in this process (eagerly) instead of waiting for a worker. The worker tests use real workers."""
    from django.test import TestCase

    from registry.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        with TestCase.captureOnCommitCallbacks(execute=True):
            yield
    finally:
        app.conf.task_always_eager = eager


class FrozenClock:
    """The controllable clock (outside the product, so it may be mocked): ``clock.set(at(14))``."""

    def __init__(self, instant: dt.datetime):
        self.instant = instant

    def set(self, instant: dt.datetime) -> dt.datetime:
        self.instant = instant
        return instant

    def __call__(self) -> dt.datetime:
        return self.instant.astimezone(dt.UTC)


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    """In-process tests run on a frozen ``timezone.now``, starting on the procedure day at noon."""
    from django.utils import timezone

    frozen = FrozenClock(at(0, 12))
    monkeypatch.setattr(timezone, "now", frozen)
    return frozen


@pytest.fixture
def patient(site_a):
    return PatientFactory(
        site=site_a, given_name="Lucía", email="lucia@example.test", osteoporosis_therapy="bisphosphonate"
    )


@pytest.fixture
def smtp_server():
    from tests.followup.smtp import SmtpServer

    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def smtp_settings(settings, smtp_server):
    """Send through the real SMTP server in this process (the in-process send path)."""
    from registry.followup import mailer

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.FOLLOWUP_SEND_RETRY_SECONDS = 1
    mailer.smtp_connection_drop()
    yield smtp_server
    mailer.smtp_connection_drop()


@pytest.fixture(autouse=True)
def _fresh_mail_connection():
    from registry.followup import mailer

    mailer.smtp_connection_drop()
    yield
    mailer.smtp_connection_drop()


# --- Worker, beat and clock file for the tests with real processes ------------------------------


class ClockFile:
    """The worker's clock: the test writes an instant, the worker's clock.now() reads it."""

    def __init__(self, path, frozen: FrozenClock):
        self.path, self.frozen = path, frozen

    def set(self, instant: dt.datetime) -> dt.datetime:
        self.frozen.set(instant)
        # Written whole, then renamed over the old file: a worker reading while the test writes
        # sees the old instant or the new one, never an empty file (which reads as the real clock:
        # months after the test's days, every window closed).
        fresh = self.path.with_name(self.path.name + ".new")
        fresh.write_text(instant.astimezone(dt.UTC).isoformat())
        os.replace(fresh, self.path)
        return instant


@pytest.fixture
def default_protocol(transactional_db):
    """Transactional tests flush the database afterwards, data-migration rows included: reload them."""
    import importlib

    from django.apps import apps

    importlib.import_module("registry.followup.migrations.0002_default_protocol").load(apps, None)


@pytest.fixture
def clock_file(tmp_path, clock, default_protocol):
    target = ClockFile(tmp_path / "clock.txt", clock)
    target.set(clock.instant)
    return target


@pytest.fixture
def worker_env(clock_file, smtp_server):
    return {
        "EMAIL_URL": smtp_server.url,
        "REGISTRY_TEST_CLOCK_FILE": str(clock_file.path),
        "FOLLOWUP_SEND_RETRY_SECONDS": "1",
    }


@pytest.fixture
def start_beat(transactional_db, tmp_path):
    """``start_beat(env={...})``: a real ``celery beat`` process with the registry's schedule."""
    import os
    import subprocess
    import sys
    import time
    import uuid

    from django.conf import settings

    from tests.conftest import ROOT, WorkerProcess, database_url_for_tests

    started = []

    def start(env: dict | None = None) -> WorkerProcess:
        log = tmp_path / f"beat-{uuid.uuid4().hex[:6]}.log"
        beat_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "registry.settings_test",
            "TEST_DATABASE_URL": database_url_for_tests(),
            "TEST_CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "PYTHONPATH": str(ROOT),
            "FOLLOWUP_SWEEP_SECONDS": "1",
            **(env or {}),
        }
        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "registry",
            "beat",
            "--loglevel=DEBUG",
            f"--schedule={tmp_path / 'beat-schedule'}",
            "--scheduler=celery.beat:PersistentScheduler",
            f"--pidfile={tmp_path / 'beat.pid'}",
        ]
        with log.open("w") as fh:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=beat_env, stdout=fh, stderr=subprocess.STDOUT)
        beat = WorkerProcess(proc, log)
        started.append(beat)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if "Sending due task followup-sweep" in beat.output():
                return beat
            if proc.poll() is not None:
                break
            time.sleep(0.2)
        pytest.fail(f"Celery beat did not start:\n{beat.output()[-3000:]}")

    yield start
    for beat in started:
        beat.stop()
