"""The report frames are streamed from the database in chunks (``reports.loaders.FETCH_ROWS``):
whatever the chunk size, the frames and the figures are those of one whole read."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from registry.followup.models import SurveyResponse
from registry.patients.models import Patient
from reports import loaders
from reports.loaders import CohortFilter, load_frames
from reports.metrics import compute_all
from tests.reports.cohort import AS_OF, build_cohort
from tests.utils import history_rewritable

pytestmark = pytest.mark.django_db

FRAMES = ("procedures", "levels", "leaks", "complications", "responses", "answers", "events", "bone_actions", "sites")


def _assert_same_frames(chunked, whole) -> None:
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(chunked, name), getattr(whole, name), check_categorical=False)


def test_frames_read_three_rows_at_a_time_equal_one_whole_read(site_a, site_b, monkeypatch):
    # Given a cohort whose every frame has more rows than a chunk
    build_cohort(site_a, site_b)
    whole = load_frames(CohortFilter(), as_of=AS_OF)
    assert min(len(whole.procedures), len(whole.levels), len(whole.events), len(whole.responses)) > 3

    # When the frames are read three rows at a time
    monkeypatch.setattr(loaders, "FETCH_ROWS", 3)
    chunked = load_frames(CohortFilter(), as_of=AS_OF)

    # Then every column of every frame and every figure is the same
    _assert_same_frames(chunked, whole)
    assert compute_all(chunked) == compute_all(whole)


def test_a_text_column_holds_one_object_per_distinct_value(site_a, site_b):
    # Given a cohort whose levels share a few cement products
    build_cohort(site_a, site_b)

    # When it is loaded
    frames = load_frames(CohortFilter(), as_of=AS_OF)

    # Then equal texts are one object: memory grows with the vocabulary, not with the rows
    products = frames.levels["product"]
    assert len(products) > products.nunique()
    assert len({id(value) for value in products}) == len(set(products))


def test_the_frames_are_read_in_one_transaction(site_a, site_b):
    build_cohort(site_a, site_b)
    with CaptureQueriesContext(connection) as queries:
        load_frames(CohortFilter(), as_of=AS_OF)
    statements = [q["sql"] for q in queries]
    # Eight frames, one statement each; on PostgreSQL each streamed from a server-side cursor
    # inside the read's one transaction (a savepoint here, inside the test's transaction).
    frame_reads = [sql for sql in statements if "SELECT" in sql.upper() and "RELEASE" not in sql.upper()]
    assert len(frame_reads) == 8
    if connection.vendor == "postgresql":
        assert all(sql.startswith("DECLARE") for sql in frame_reads)


def test_an_earlier_day_of_the_frames_shows_what_was_known_that_day(site_a, site_b):
    # Given a cohort with answers from the first quarter of 2026
    build_cohort(site_a, site_b)
    quarter_end = dt.date(2026, 3, 31)
    answered = SurveyResponse.objects.filter(collected_on__lte=quarter_end).order_by("collected_on", "id")
    late, replaced = answered[0], answered[1]
    # ... one of which was entered from a paper form only after the quarter ended,
    SurveyResponse.objects.filter(pk=late.pk).update(submitted_at=timezone.make_aware(dt.datetime(2026, 4, 10, 9)))
    # ... and one of which a phone re-contact in May replaced with a new answer
    SurveyResponse.objects.create(
        patient=replaced.patient,
        procedure=replaced.procedure,
        event_code=replaced.event_code,
        source="phone",
        collected_on=dt.date(2026, 5, 4),
        vas=Decimal("9.5"),
        odi_percent=Decimal("80.0"),
        submitted_at=timezone.make_aware(dt.datetime(2026, 5, 4, 12)),
    )

    # ... and a patient treated in January whose death on 20 March was recorded only in May
    died = Patient.objects.filter(procedures__performed_on__month=1).order_by("id").first()
    died.deceased_on = dt.date(2026, 3, 20)
    died.save()
    with history_rewritable():
        Patient.history.filter(id=died.id, deceased_on=died.deceased_on).update(
            history_date=timezone.make_aware(dt.datetime(2026, 5, 2, 10))
        )
    loaded_then = load_frames(CohortFilter(performed_to=quarter_end), as_of=quarter_end)
    assert loaded_then.procedures.loc[loaded_then.procedures["patient_id"] == died.id, "deceased_on"].isna().all()
    # When the frames loaded today from the quarter's end on (as the quarterly build loads them)
    # are taken back to the quarter's end (as the disclosure guard does for the previous release)
    today = load_frames(CohortFilter(), as_of=AS_OF, since=quarter_end)
    then = today.up_to(quarter_end)

    # Then they show what a load on that day showed: the late answer not yet, the replaced one
    # still, the death not yet; and every figure
    answers = then.answers.set_index("response_id")
    assert late.pk not in answers.index and late.pk not in loaded_then.answers["response_id"].to_numpy()
    assert answers.loc[replaced.pk, "vas"] == float(replaced.vas)
    assert then.events.loc[then.events["patient_id"] == died.id, "deceased_on"].isna().all()
    assert today.events.loc[today.events["patient_id"] == died.id, "deceased_on"].notna().all()
    assert compute_all(then) == compute_all(loaded_then)
    # ... and a day between, on which they do not know the deaths, is refused
    with pytest.raises(ValueError, match="deaths and withdrawals"):
        today.up_to(quarter_end + dt.timedelta(days=1))


def test_frames_loaded_for_one_day_hold_only_its_answers_and_refuse_to_go_back(site_a, site_b):
    # Given a cohort where a re-contact replaced an answer
    build_cohort(site_a, site_b)
    replaced = SurveyResponse.objects.order_by("collected_on", "id").first()
    SurveyResponse.objects.create(
        patient=replaced.patient,
        procedure=replaced.procedure,
        event_code=replaced.event_code,
        source="phone",
        collected_on=replaced.collected_on + dt.timedelta(days=30),
        vas=Decimal("9.5"),
        submitted_at=timezone.make_aware(dt.datetime.combine(replaced.collected_on, dt.time(9))) + dt.timedelta(30),
    )

    # When the frames are loaded for today only (a dashboard)
    today_only = load_frames(CohortFilter(), as_of=AS_OF, since=AS_OF)
    every_answer = load_frames(CohortFilter(), as_of=AS_OF)

    # Then they hold each event's latest answer alone, with the same figures
    assert replaced.pk in every_answer.responses["response_id"].to_numpy()
    assert replaced.pk not in today_only.responses["response_id"].to_numpy()
    assert len(today_only.responses) == len(today_only.answers)
    assert compute_all(today_only) == compute_all(every_answer)
    # ... and an earlier day, which they cannot show as it was known, is refused
    with pytest.raises(ValueError, match="as known from"):
        today_only.up_to(AS_OF - dt.timedelta(days=1))
