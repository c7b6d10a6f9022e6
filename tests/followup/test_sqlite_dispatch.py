"""The demo (SQLite, `bootstrap.py demo`) sends what it queues: the dispatcher's claim and its
"sent" mark are portable, and so is the sweep. Before, every send task of the demo's worker failed
on PostgreSQL-only SQL (`= ANY(%s)`, `FOR UPDATE` in a subquery, `unnest`)."""

from __future__ import annotations

from pathlib import Path

from tests.sqlite_demo import run_on_fresh_sqlite


def test_the_demo_database_sends_each_queued_email_once(tmp_path):
    result = run_on_fresh_sqlite(Path(__file__).with_name("sqlite_dispatch.py"), tmp_path)

    assert result["vendor"] == "sqlite"
    assert result["notices"] >= 1
    assert result["first"] == ["sent"] * result["notices"]
    assert result["again"] == ["not_claimed"] * result["notices"]
    assert result["stored"] == [["sent", 1]] * result["notices"]
    assert [set(sweep.values()) for sweep in result["sweeps"]] == [{0}, {0}]
    assert result["walks"] == 1
