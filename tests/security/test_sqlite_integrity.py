"""The demo database (SQLite) refuses what PostgreSQL refuses: rewritten history, mixed patients.

SQLite rebuilds a table for most ALTERs and the rebuilt table loses its triggers: before, 7 of the
22 append-only tables of a freshly migrated demo database had none, and the cross-patient check
existed only in the service.
"""

from __future__ import annotations

from pathlib import Path

from tests.sqlite_demo import run_on_fresh_sqlite


def test_a_migrated_demo_database_refuses_history_rewrites_and_mixed_patients(tmp_path):
    result = run_on_fresh_sqlite(Path(__file__).with_name("sqlite_integrity.py"), tmp_path)

    assert result["vendor"] == "sqlite"
    assert result["history_tables_without_trigger"] == []
    for attempt in ("history_delete", "history_update", "site_history_update"):
        assert "append-only" in result[attempt], attempt
    assert "procedure must belong to its patient" in result["move_answer"]
    assert "procedure must belong to its patient" in result["insert_mixed"]
    assert "cannot move to another patient" in result["move_procedure"]
