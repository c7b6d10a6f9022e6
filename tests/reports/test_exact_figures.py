"""Exact figures (issue #10, classes 1-5), each against a hand-computed expectation.

Means are computed from integer sums, so exact halves round up; ODI uses the exact score of its
answers, not the stored one-decimal percent; censoring follows the recorded cause and the dates;
a report as of a date shows what was known that day.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pandas as pd
import pytest
from django.utils import timezone

from reports.loaders import CohortFilter, load_frames
from reports.metrics import compute_all, make_frames
from reports.stats import format_mean, format_number, mean_summary
from reports.tables import build_tables
from tests.reports import hand

AS_OF = dt.date(2026, 6, 30)


def table_of(frames, key, *, suppress=False):
    tables = {table.key: table for table in build_tables(compute_all(frames), suppress=suppress)}
    return tables[key]


def procedures(n, kind="PVP"):
    return pd.DataFrame(
        {
            "procedure_id": range(1, n + 1),
            "patient_id": range(1, n + 1),
            "site_id": 1,
            "performed_on": pd.Timestamp("2026-01-10"),
            "procedure_type": kind,
            "indication": "osteoporotic",
            "date_of_birth": pd.Timestamp("1950-01-01"),
            "consent_status": "consented",
        }
    )


# --- class 3: exact halves -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "decimals", "shown"),
    [
        ([5.0] * 15 + [3.6] * 5, 1, "4.7"),  # 93 / 20 = 4.65 exactly; the float mean is 4.6499...
        ([4.0] * 30 + [5.1] * 10, 2, "4.28"),  # 171 / 40 = 4.275 exactly
        ([-5.0] * 15 + [-3.6] * 5, 1, "-4.7"),  # a change: half away from zero
    ],
)
def test_means_exactly_on_a_half_round_up(values, decimals, shown):
    summary = mean_summary(values, scale=10)

    assert summary.exact_mean == sum(Fraction(str(v)) for v in values) / len(values)
    assert format_number(summary.exact_mean, decimals) == shown
    assert format_mean(summary, decimals=decimals) == hand.mean(values, decimals=decimals)


def test_cement_volume_of_93_ml_over_20_levels_shows_4_7():
    volumes = [5.0] * 15 + [3.6] * 5
    frames = make_frames(
        as_of=AS_OF,
        procedures=procedures(20),
        levels=pd.DataFrame(
            {"level_id": range(1, 21), "procedure_id": range(1, 21), "level": 1, "cement_volume_ml": volumes}
        ),
    )

    cell = table_of(frames, "cement").cell("Volume per level — All", "Value")

    assert cell.startswith("4.7 ± ") and cell == hand.mean(volumes, "mL")


def test_vas_mean_of_171_over_40_shows_4_28_in_the_outcome_table():
    scores = [4.0] * 30 + [5.1] * 10
    frames = make_frames(
        as_of=AS_OF,
        procedures=procedures(40),
        responses=pd.DataFrame(
            {
                "response_id": range(1, 41),
                "procedure_id": range(1, 41),
                "event_code": "baseline",
                "collected_on": pd.Timestamp("2026-01-09"),
                "vas": scores,
            }
        ),
    )

    row = table_of(frames, "vas_by_type").find(Group="All", Event="Baseline")

    assert row["Score"].startswith("4.28 ± ") and row["Score"] == hand.mean(scores, decimals=2)


# --- class 1: ODI from its answers ---------------------------------------------------------

ODI_SECTIONS = (
    "pain_intensity", "personal_care", "lifting", "walking", "sitting",
    "standing", "sleeping", "sex_life", "social_life", "travelling",
)  # fmt: skip


@pytest.fixture
def odi_cohort(site_a, coordinator_a):
    """Two baseline ODI surveys entered through the survey service: 41 points over 9 answered
    sections (sex life skipped) = 91.11 %, stored as 91.1; and 30 points over 10 = 60 %."""
    from registry.followup.services import survey_response_record
    from tests.factories import ProcedureFactory

    answered = [code for code in ODI_SECTIONS if code != "sex_life"]
    skipped = dict(zip(answered, [5, 5, 5, 5, 5, 4, 4, 4, 4], strict=True)) | {"sex_life": None}
    full = dict.fromkeys(ODI_SECTIONS, 3)
    for answers in (skipped, full):
        procedure = ProcedureFactory(patient__site=site_a, performed_on=dt.date(2026, 2, 2))
        survey_response_record(
            patient=procedure.patient,
            procedure=procedure,
            event_code="baseline",
            source="clinic",
            answers={"odi": answers},
            acting_user=coordinator_a,
            collected_on=dt.date(2026, 2, 1),
        )


def test_odi_statistics_use_the_exact_score_with_one_section_skipped(odi_cohort, site_a):
    frames = load_frames(CohortFilter(site_ids=(site_a.id,)), as_of=timezone.localdate())
    exact = [Fraction(41 * 100, 45), Fraction(60)]

    row = table_of(frames, "odi_by_type").find(Group="All", Event="Baseline")

    # (91.111... + 60) / 2 = 75.555... shows as 75.56; the stored 91.1 would give 75.55.
    assert row["Score"].startswith("75.56 ± ")
    assert row["Score"] == hand.mean(exact, decimals=2)
