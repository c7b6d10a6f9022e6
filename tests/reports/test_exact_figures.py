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

from reports import services
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


# --- classes 2 and 4: censoring by cause and date, reports as of a date -------------------------

PERFORMED = dt.date(2026, 1, 10)  # early window 24 Jan - 21 Feb, 3-month window 27 Mar - 10 May


def _moment(day: dt.date, hour: int = 12) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


@pytest.fixture
def followed_case(site_a, coordinator_a):
    """A patient registered on 5 January, treated on 10 January, with a baseline answer, an early
    survey whose window closed unanswered (marked missed on 22 February) and an open 3-month one."""
    from registry.followup.models import EventStatus, FollowUpEvent
    from registry.followup.services import survey_response_record
    from registry.patients.models import Patient
    from tests.factories import ProcedureFactory
    from tests.reports.cohort import WINDOWS, protocol_events
    from tests.utils import history_rewritable

    procedure = ProcedureFactory(patient__site=site_a, performed_on=PERFORMED)
    patient = procedure.patient
    with history_rewritable():
        Patient.history.filter(id=patient.id).update(history_date=_moment(dt.date(2026, 1, 5)))
    survey_response_record(
        patient=patient,
        procedure=procedure,
        event_code="baseline",
        source="clinic",
        answers={"vas": "7.0"},
        acting_user=coordinator_a,
        collected_on=PERFORMED,
        now=_moment(PERFORMED),
    )
    protocol = protocol_events()
    for code, status, changed in (("early", EventStatus.MISSED, dt.date(2026, 2, 22)), ("m3", "scheduled", PERFORMED)):
        start, invite, end = WINDOWS[code]
        FollowUpEvent.objects.create(
            procedure=procedure, patient=patient, site=site_a, protocol_event=protocol[code], event_code=code,
            window_opens_on=PERFORMED + dt.timedelta(days=start), invite_on=PERFORMED + dt.timedelta(days=invite),
            window_closes_on=PERFORMED + dt.timedelta(days=end), status=status, status_changed_at=_moment(changed),
        )  # fmt: skip
    return procedure


def follow_up_rows(site, as_of):
    table = table_of(load_frames(CohortFilter(site_ids=(site.id,)), as_of=as_of), "follow_up")
    return {
        row[0]: dict(zip(("planned", "completed", "missed", "censored", "pending"), row[1:2] + row[3:7], strict=True))
        for row in table.rows
    }


def test_a_survey_missed_before_the_withdrawal_stays_missed(
    followed_case, site_a, coordinator_a, django_capture_on_commit_callbacks
):
    from registry.followup.models import FollowUpEvent
    from registry.patients.services import consent_withdraw

    # Withdrawal effective 15 March: after the early window closed (21 Feb), before the 3-month one opened.
    with django_capture_on_commit_callbacks(execute=True):
        consent_withdraw(patient=followed_case.patient, acting_user=coordinator_a, effective_on=dt.date(2026, 3, 15))
    # The follow-up engine closed the open 3-month event with the vocabulary's cause.
    assert FollowUpEvent.objects.get(event_code="m3").cancel_cause == "withdrawn"

    rows = follow_up_rows(site_a, timezone.localdate())

    assert rows["Early (2–6 weeks)"] == {
        "planned": "1",
        "completed": "0",
        "missed": "1",
        "censored": "0",
        "pending": "0",
    }
    assert rows["3 months"] == {"planned": "1", "completed": "0", "missed": "0", "censored": "1", "pending": "0"}


def test_a_cancellation_for_another_cause_is_not_censoring(followed_case, site_a):
    from registry.followup.models import FollowUpEvent

    # Closed because the patient was not in follow-up: not counted at all, whatever its note says.
    FollowUpEvent.objects.filter(event_code="m3").update(
        status="cancelled", cancel_cause="not_in_followup", cancel_reason="Patient deceased? no: not in follow-up",
        status_changed_at=_moment(dt.date(2026, 3, 1)),
    )  # fmt: skip

    rows = follow_up_rows(site_a, timezone.localdate())

    assert "3 months" not in rows


def test_a_quarter_rebuilt_later_shows_what_was_known_at_its_end(
    followed_case, site_a, coordinator_a, admin_user, django_capture_on_commit_callbacks
):
    from registry.followup.models import FollowUpEvent
    from registry.followup.services import survey_response_record
    from registry.patients.services import patient_mark_deceased
    from reports.models import QuarterlyReport

    quarter_end = dt.date(2026, 3, 31)

    def quarter_figures():
        frames = load_frames(CohortFilter(performed_to=quarter_end), as_of=quarter_end)
        document = services.quarterly_document(
            frames,
            services.quarterly_inputs(
                frames, site=site_a, year=2026, quarter=1, version=1, built_at=_moment(quarter_end)
            ),
        )
        return [(table.key, table.rows) for section in document.sections for table in section.tables]

    services.quarterly_reports_build(year=2026, quarter=1, today=dt.date(2026, 4, 1))
    first = quarter_figures()
    assert follow_up_rows(site_a, quarter_end)["Early (2–6 weeks)"]["missed"] == "1"
    assert follow_up_rows(site_a, quarter_end)["3 months"]["pending"] == "1"

    # After the quarter: on 10 April the coordinator enters the early survey from a paper form
    # collected on 15 February, and in May a death on 20 March is recorded.
    early = FollowUpEvent.objects.get(event_code="early")
    FollowUpEvent.objects.filter(pk=early.pk).update(status="scheduled")
    survey_response_record(
        patient=followed_case.patient, event=early, source="paper", answers={"vas": "3.0"},
        acting_user=coordinator_a, collected_on=dt.date(2026, 2, 15), now=_moment(dt.date(2026, 4, 10)),
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        patient_mark_deceased(
            patient=followed_case.patient, acting_user=coordinator_a, deceased_on=dt.date(2026, 3, 20)
        )

    # Today the registry knows both: the early survey completed, the 3-month one censored.
    today = follow_up_rows(site_a, timezone.localdate())
    assert (today["Early (2–6 weeks)"]["completed"], today["3 months"]["censored"]) == ("1", "1")
    # The quarter rebuilt now shows what was known on 31 March, figure for figure.
    rebuilt = services.quarterly_report_rebuild(site=site_a, year=2026, quarter=1, acting_user=admin_user)
    assert rebuilt.version == 2
    assert quarter_figures() == first
    assert follow_up_rows(site_a, quarter_end)["Early (2–6 weeks)"] == {
        "planned": "1", "completed": "0", "missed": "1", "censored": "0", "pending": "0",
    }  # fmt: skip
    versions = QuarterlyReport.objects.filter(site=site_a, year=2026, quarter=1).order_by("version")
    assert [v.version for v in versions] == [1, 2]


# --- class 5: leak rate per procedure ---------------------------------------------------------


def test_leak_rate_per_procedure_beside_per_level_and_per_patient():
    # Patient 1 treated twice (PVP with 2 levels, one leaking; PKP, 1 level, none); patient 2 once (PVP, no leak).
    frames = make_frames(
        as_of=AS_OF,
        procedures=procedures(3).assign(patient_id=[1, 1, 2], procedure_type=["PVP", "PKP", "PVP"]),
        levels=pd.DataFrame(
            {"level_id": [1, 2, 3, 4], "procedure_id": [1, 1, 2, 3], "level": [1, 2, 3, 4], "cement_volume_ml": 2.0}
        ),
        leaks=pd.DataFrame({"leak_id": [1], "level_id": [1], "location": ["disc_superior"]}),
    )

    table = table_of(frames, "leaks")

    assert table.cell("Procedures with a leak — All", "Value") == hand.share(1, 3)
    assert table.cell("Procedures with a leak — PVP", "Value") == hand.share(1, 2)
    assert table.cell("Procedures with a leak — PKP", "Value") == hand.share(0, 1)
    assert table.cell("Patients with a leak — All", "Value") == hand.share(1, 2)
    assert table.cell("Levels with a leak — All", "Value") == hand.share(1, 4)
