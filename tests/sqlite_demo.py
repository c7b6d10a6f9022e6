"""Run one of the tests' scripts in a child process on a fresh SQLite database, as the README's demo
sets it up (`bootstrap.py demo`: SQLite, a filesystem broker, a local-memory cache), and read the
JSON it prints last."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_on_fresh_sqlite(script: Path, tmp_path: Path) -> dict:
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
        [sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert child.returncode == 0, child.stderr[-3000:]
    return json.loads(child.stdout.strip().splitlines()[-1])
