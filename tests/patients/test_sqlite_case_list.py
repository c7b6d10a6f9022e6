"""The demo database (SQLite) migrates and keeps the plain name search and the follow-up filters."""

from __future__ import annotations

from pathlib import Path

from tests.sqlite_demo import run_on_fresh_sqlite


def test_the_demo_database_searches_and_filters_the_case_list(tmp_path):
    result = run_on_fresh_sqlite(Path(__file__).with_name("sqlite_case_list.py"), tmp_path)

    assert result["vendor"] == "sqlite"
    assert "patient_followup_status_idx" in result["indexes"]
    assert "patient_name_search_trgm" not in result["indexes"]
    assert result["two_words"] == ["García"]
    assert result["across_names"] == []
    assert sorted(result["one_word"]) == ["García", "Gil"]
    assert result["withdrawn"] == ["Gil"]
    assert result["active"] == ["García"]
