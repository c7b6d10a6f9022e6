"""The import on the README's demo database, SQLite (issue #13.5): the same code as on PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_a_series_imports_on_sqlite_once_and_only_once(tmp_path):
    # Given a fresh SQLite database and filesystem broker, as `bootstrap.py demo` sets them up
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

    # When a 40-level series is previewed and committed in two files, then imported again
    child = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(Path(__file__).with_name("sqlite_import.py"))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    # Then every level is written once, audited, with follow-up planned, and the repeat adds nothing
    assert child.returncode == 0, child.stderr[-3000:]
    counts = json.loads(child.stdout.strip().splitlines()[-1])
    assert counts["vendor"] == "sqlite" and counts["preview_ok"]
    assert (counts["first_levels_new"], counts["second_levels_new"]) == (20, 20)
    assert (counts["again_levels_new"], counts["again_levels_unchanged"]) == (0, 40)
    assert counts["levels"] == counts["level_history"] == 40
    assert counts["followup_left"] == 0
    assert counts["followup_planned"] > 0 and counts["followup_events"] > 0
