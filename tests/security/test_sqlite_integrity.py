"""The demo database (SQLite) refuses what PostgreSQL refuses: rewritten history, mixed patients.

SQLite rebuilds a table for most ALTERs and the rebuilt table loses its triggers: before, 7 of the
22 append-only tables of a freshly migrated demo database had none, and the cross-patient check
existed only in the service.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_a_migrated_demo_database_refuses_history_rewrites_and_mixed_patients(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "registry.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "REGISTRY_VAR_DIR": str(tmp_path),
        "CELERY_BROKER_URL": "filesystem://",
        "CACHE_URL": "locmemcache://",
        "DEBUG": "true",
        "PYTHONPATH": str(ROOT),
    }
    child = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(Path(__file__).with_name("sqlite_integrity.py"))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    result = json.loads(child.stdout.strip().splitlines()[-1])

    assert result["vendor"] == "sqlite"
    assert result["history_tables_without_trigger"] == []
    for attempt in ("history_delete", "history_update", "site_history_update"):
        assert "append-only" in result[attempt], attempt
    assert "procedure must belong to its patient" in result["move_answer"]
    assert "procedure must belong to its patient" in result["insert_mixed"]
    assert "cannot move to another patient" in result["move_procedure"]
