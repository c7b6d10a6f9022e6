"""The follow-up data of the benchmark sets (``benchmarks/bench_reports.py``, used by
``benchmarks/load_scale.py``) are written in one pass and are what the product would have written:
each value is in its INSERT, with every constraint and trigger of the migrated database on."""

import datetime as dt

from django.db import connection

from benchmarks.bench_reports import BONE_SQL, FOLLOWUP_SQL, REPEATS_SQL, RESPONSES_SQL, TODAY, run_statements
from registry.demo.cohort import generate_cohort
from registry.followup.models import FollowUpEvent, SurveyResponse
from registry.patients.models import BoneHealthAction
from tests.factories import SiteFactory


def test_the_benchmark_follow_up_data_need_no_update_after_the_insert(db):
    # Given a small synthetic cohort, with its follow-up written by the benchmarks' SQL
    generate_cohort(sites=[SiteFactory(code="SA"), SiteFactory(code="SB")], n_patients=300, seed=14, today=TODAY)
    with connection.cursor() as cursor:
        run_statements(cursor, FOLLOWUP_SQL, {"today": TODAY})
        run_statements(cursor, RESPONSES_SQL, {})
        run_statements(cursor, BONE_SQL, {"today": TODAY})
        run_statements(cursor, REPEATS_SQL, {"extra": 50})
        # Then no statement is an UPDATE
        assert not any(
            statement.lstrip().upper().startswith("UPDATE")
            for script in (FOLLOWUP_SQL, RESPONSES_SQL, BONE_SQL, REPEATS_SQL)
            for statement in script.split(";")
        )

    # Every cancelled event says why, and no other event does
    events = FollowUpEvent.objects.all()
    cancelled = events.filter(status="cancelled")
    assert cancelled.exists()
    assert not cancelled.filter(cancel_cause="").exists() and not cancelled.filter(cancel_reason="").exists()
    assert not events.exclude(status="cancelled").exclude(cancel_cause="", cancel_reason="").exists()
    # Every answer was submitted at noon (UTC) on the day it was collected, repeats included
    responses = list(SurveyResponse.objects.values_list("collected_on", "submitted_at", "event_id"))
    assert len([r for r in responses if r[2] is None]) == 50
    assert all(
        submitted == dt.datetime.combine(collected, dt.time(12), tzinfo=dt.UTC) for collected, submitted, _ in responses
    )
    # Bone-health statuses are drawn per action; only done actions have a date, never after today
    actions = BoneHealthAction.objects.all()
    assert set(actions.values_list("status", flat=True)) == {"done", "declined", "due"}
    assert not actions.filter(status="done", done_on__isnull=True).exists()
    assert not actions.exclude(status="done").filter(done_on__isnull=False).exists()
    assert not actions.filter(done_on__gt=TODAY).exists()
