"""The import on the README's demo database, SQLite (issue #13.5): the same code as on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from tests.sqlite_demo import run_on_fresh_sqlite


def test_a_series_imports_on_sqlite_once_and_only_once(tmp_path):
    # Given a fresh SQLite database and filesystem broker, as `bootstrap.py demo` sets them up
    # When a 40-level series is previewed and committed in two files, then imported again
    counts = run_on_fresh_sqlite(Path(__file__).with_name("sqlite_import.py"), tmp_path)

    # Then every level is written once, audited, with follow-up planned, and the repeat adds nothing
    assert counts["vendor"] == "sqlite" and counts["preview_ok"]
    assert (counts["first_levels_new"], counts["second_levels_new"]) == (20, 20)
    assert (counts["again_levels_new"], counts["again_levels_unchanged"]) == (0, 40)
    assert counts["levels"] == counts["level_history"] == 40
    assert counts["followup_left"] == 0
    assert counts["followup_planned"] > 0 and counts["followup_events"] > 0
