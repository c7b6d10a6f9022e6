"""The demo (SQLite) caches the dashboard's new-fracture section under the same marker, kept by
triggers that every ``migrate`` puts back on the tables its rebuilds recreated."""

from __future__ import annotations

from pathlib import Path

from tests.sqlite_demo import run_on_fresh_sqlite


def test_on_a_migrated_demo_database_every_write_moves_the_marker(tmp_path):
    result = run_on_fresh_sqlite(Path(__file__).with_name("sqlite_fracture_marker.py"), tmp_path)

    assert result["vendor"] == "sqlite"
    assert result["tables_without_triggers"] == []
    assert result["moved"] == dict.fromkeys(result["moved"], True)
    assert "0 of 0 new fractures" in result["section_before"]
    assert "0 of 1 new fractures" in result["section_after"]
