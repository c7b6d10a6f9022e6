"""The first README command's path on the embedded defaults: SQLite and the filesystem broker."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _env(var_dir: Path) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE", "EMAIL_URL", "SECRET_KEY"}
    }
    return {**env, "DEBUG": "true", "REGISTRY_VAR_DIR": str(var_dir), "DJANGO_SETTINGS_MODULE": "registry.settings"}


def _manage(var_dir: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=_env(var_dir),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_demo_loads_on_sqlite_and_the_embedded_broker_runs_tasks_across_processes(tmp_path):
    # Given a fresh var/ directory and no service configured
    migrated = _manage(tmp_path, "migrate", "--no-input")
    assert migrated.returncode == 0, migrated.stderr
    assert (tmp_path / "registry.sqlite3").exists()

    # When the demo data is loaded
    seeded = _manage(tmp_path, "seed_demo", "--patients", "40")
    assert seeded.returncode == 0, seeded.stderr

    # Then one login per role is printed with its password, and a cohort exists
    for username in ("admin", "coordinator", "investigator", "reviewer"):
        assert username in seeded.stdout
    assert "demo-coordinator-2026" in seeded.stdout
    count = "from registry.patients.models import Patient; print(Patient.objects.count())"
    assert _manage(tmp_path, "shell", "-c", count).stdout.strip().splitlines()[-1] == "40"

    # Seeding again keeps the same logins and one cohort
    again = _manage(tmp_path, "seed_demo", "--patients", "40")
    assert again.returncode == 0, again.stderr
    assert _manage(tmp_path, "shell", "-c", count).stdout.strip().splitlines()[-1] == "40"

    # And a worker on the filesystem broker runs a task queued by another process
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "registry", "worker", "--pool=solo", "--loglevel=INFO"],
        cwd=ROOT,
        env=_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        queued = _manage(
            tmp_path, "shell", "-c", "from registry.core.tasks import heartbeat_task; heartbeat_task.delay('demo')"
        )
        assert queued.returncode == 0, queued.stderr
        check = "from registry.core.models import Heartbeat; print(Heartbeat.objects.filter(source='demo').count())"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if _manage(tmp_path, "shell", "-c", check).stdout.strip().endswith("1"):
                break
            time.sleep(1)
        else:
            pytest.fail("The task queued on the filesystem broker never ran")
    finally:
        worker.terminate()
        worker.wait(timeout=20)


def test_seed_demo_refuses_to_run_in_production(tmp_path):
    env = {**_env(tmp_path), "DEBUG": "false", "SECRET_KEY": "k" * 60}
    result = subprocess.run(
        [sys.executable, "manage.py", "seed_demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "DEBUG" in result.stderr
