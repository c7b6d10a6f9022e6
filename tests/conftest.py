"""Personas, real services and a real Celery worker for the whole suite.

The suite runs on PostgreSQL and Redis (registry/settings_test.py). If either is missing the run
fails with a message saying which; nothing is skipped.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.conf import settings

from tests.factories import PASSWORD, Role, SiteFactory, UserFactory, member

ROOT = Path(__file__).resolve().parent.parent


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def pytest_sessionstart(session):
    db_url = os.environ.get("DATABASE_URL", "")
    if not _reachable(db_url or "postgres://127.0.0.1:5432", 5432):
        pytest.exit(f"PostgreSQL is not reachable at {urlparse(db_url).netloc}: start it (see README).", returncode=3)
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if broker.startswith("redis") and not _reachable(broker, 6379):
        pytest.exit(f"Redis is not reachable at {urlparse(broker).netloc}: start it (see README).", returncode=3)


# --- Personas (STYLE.md item 10) --------------------------------------------------------------


@pytest.fixture
def site_a(db):
    return SiteFactory(code="TOL", name="Hospital Virgen de la Salud, Toledo", time_zone="Europe/Madrid")


@pytest.fixture
def site_b(db):
    return SiteFactory(code="BOS", name="Boston Spine Center", time_zone="America/New_York")


@pytest.fixture
def coordinator_a(site_a):
    return member(UserFactory(username="coord_a", first_name="Ana"), site_a, Role.COORDINATOR)


@pytest.fixture
def coordinator_b(site_b):
    return member(UserFactory(username="coord_b", first_name="Bob"), site_b, Role.COORDINATOR)


@pytest.fixture
def investigator_a(site_a):
    return member(UserFactory(username="inv_a"), site_a, Role.INVESTIGATOR)


@pytest.fixture
def reviewer_a(site_a):
    return member(UserFactory(username="reviewer_a"), site_a, Role.REVIEWER)


@pytest.fixture
def admin_user(db):
    return UserFactory(username="registry_admin", is_staff=True, is_superuser=True)


@pytest.fixture
def client_for(client):
    """``client_for(user)`` -> a test client logged in as that user."""
    from django.test import Client

    def make(user):
        c = Client()
        c.force_login(user)
        return c

    return make


@pytest.fixture
def password():
    return PASSWORD


# --- A real Celery worker on Redis ------------------------------------------------------------


class WorkerProcess:
    def __init__(self, proc: subprocess.Popen, log: Path):
        self.proc = proc
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def database_url_for_tests() -> str:
    db = settings.DATABASES["default"]
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


@pytest.fixture
def start_worker(transactional_db, tmp_path):
    """Start real ``celery worker`` processes against the test database; stopped afterwards.

    ``start_worker(env={...}, queues=..., concurrency=...)`` returns a WorkerProcess once the
    worker says it is ready. The test database is the one pytest-django created, so the worker
    sees what the test committed.
    """
    from registry.celery import app

    broker = settings.CELERY_BROKER_URL
    if not broker.startswith("redis"):
        pytest.fail(f"The worker tests need Redis as the broker, got {broker!r}")
    if not _reachable(broker, 6379):
        pytest.fail(f"Redis is not reachable at {urlparse(broker).netloc}")
    app.control.purge()
    started: list[WorkerProcess] = []

    def start(env: dict | None = None, concurrency: int = 1, pool: str = "prefork") -> WorkerProcess:
        log = tmp_path / f"worker-{uuid.uuid4().hex[:6]}.log"
        worker_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "registry.settings_test",
            "TEST_DATABASE_URL": database_url_for_tests(),
            "TEST_CELERY_BROKER_URL": broker,
            "PYTHONPATH": str(ROOT),
            **(env or {}),
        }
        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "registry",
            "worker",
            "--loglevel=INFO",
            f"--pool={pool}",
            f"--concurrency={concurrency}",
            f"--queues={','.join(settings.CELERY_QUEUE_NAMES)}",
            "--without-gossip",
            "--without-mingle",
            f"--hostname=test-{uuid.uuid4().hex[:8]}@%h",
        ]
        with log.open("w") as fh:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=worker_env, stdout=fh, stderr=subprocess.STDOUT)
        worker = WorkerProcess(proc, log)
        started.append(worker)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if "ready." in worker.output():
                return worker
            if proc.poll() is not None:
                break
            time.sleep(0.2)
        pytest.fail(f"Celery worker did not start:\n{worker.output()[-3000:]}")

    yield start
    for worker in started:
        worker.stop()


# --- Data that migrations load ----------------------------------------------------------------


@pytest.fixture(autouse=True)
def _migration_data(request):
    """Rows loaded by data migrations (the default follow-up protocol) for every database test.

    A transactional test ends with a flush that empties every table, data-migration rows
    included; the tests after it still expect the registry as migrations leave it.
    """
    marker = request.node.get_closest_marker("django_db")
    if marker is None and not {"db", "transactional_db"} & set(request.fixturenames):
        return
    import importlib

    from django.apps import apps

    transactional = (marker is not None and marker.kwargs.get("transaction")) or (
        "transactional_db" in request.fixturenames
    )
    request.getfixturevalue("transactional_db" if transactional else "db")
    importlib.import_module("registry.followup.migrations.0002_default_protocol").load(apps, None)
