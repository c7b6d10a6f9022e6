"""Rollups (issue #14): the figures read from the sufficient statistics equal the full path
(``reports.loaders`` + ``reports.metrics``) on the same cohort, after every kind of change, at
every as-of date; a changed partition is stale until the task or a report refreshes it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import pytest
from django.utils import timezone

from registry.followup.models import SurveyResponse
from registry.followup.scoring import odi_clinically_important, vas_clinically_important
from registry.procedures.models import Procedure
from registry.rollups.models import OutcomeRollup, StalePartition
from registry.rollups.selectors import outcomes_from_rollups
from registry.rollups.services import improvement_rule_units, rollups_refresh
from registry.rollups.tasks import rollups_refresh_task
from reports.loaders import CohortFilter, load_frames
from reports.metrics import outcomes
from reports.stats import format_mean
from tests.reports.cohort import AS_OF, build_cohort

D = dt.date
MONTH_ENDS = [D(2025, 12, 31), D(2026, 1, 31), D(2026, 2, 28), D(2026, 3, 31), D(2026, 6, 30), AS_OF]


def _moment(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(12)))


def full_path(cohort: CohortFilter, as_of: dt.date) -> dict:
    return outcomes(load_frames(cohort, as_of=as_of))


def assert_same_as_full_path(cohort: CohortFilter, as_of: dt.date) -> dict:
    from_rollups = outcomes_from_rollups(cohort, as_of=as_of)
    assert from_rollups is not None, f"not covered: {cohort} as of {as_of}"
    assert from_rollups == full_path(cohort, as_of)
    return from_rollups


@pytest.fixture
def cohort(site_a, site_b):
    procedures = build_cohort(site_a, site_b)
    rollups_refresh()
    return procedures


def cohorts(site_a, site_b) -> list[CohortFilter]:
    return [
        CohortFilter(),
        CohortFilter(site_ids=(site_a.id,)),
        CohortFilter(site_ids=(site_b.id,)),
        CohortFilter(procedure_type="PKP"),
        CohortFilter(indication="osteoporotic"),
        CohortFilter(site_ids=(site_a.id,), procedure_type="PVP", indication="osteoporotic"),
        CohortFilter(performed_from=D(2026, 1, 1), performed_to=D(2026, 3, 31)),
        CohortFilter(performed_to=D(2025, 12, 31)),
    ]


@pytest.mark.django_db
def test_rollups_equal_the_full_path_for_every_filter_and_month_end(cohort, site_a, site_b):
    for cohort_filter in cohorts(site_a, site_b):
        for as_of in MONTH_ENDS:
            assert_same_as_full_path(cohort_filter, as_of)


@pytest.mark.django_db
def test_three_month_vas_by_hand(cohort):
    # Given the fixture's 3-month VAS (A1 3.0, A2 6.0, A3 2.0, A7 4.0, A8 3.0) and baselines
    # (8.0, 7.0, 9.0, 8.0, 6.5)
    figures = assert_same_as_full_path(CohortFilter(), AS_OF)
    m3 = figures["vas"]["by_type"]["all"]["m3"]

    # Then the mean is 18 / 5, the change (-5 - 1 - 7 - 4 - 3.5) / 5 = -4.1, and four of five fell
    # by 2 points or 30 % (A2 fell by 1 of 7)
    assert (m3.score.n, m3.score.exact_mean) == (5, Fraction(18, 5))
    assert (m3.change.n, m3.change.exact_mean) == (5, Fraction(-41, 10))
    assert (m3.change.exact_min, m3.change.exact_max) == (Fraction(-7), Fraction(-1))
    assert (m3.improved.count, m3.improved.denominator) == (4, 5)


@pytest.mark.django_db
def test_as_of_the_end_of_march_only_answers_known_then_count(cohort):
    # A7 (performed 5 Nov 2025) answered at 3 months on 3 Feb 2026; A1 and A8 only in April
    figures = assert_same_as_full_path(CohortFilter(), D(2026, 3, 31))
    m3 = figures["vas"]["by_type"]["all"]["m3"]
    assert (m3.score.n, m3.score.exact_mean, m3.change.exact_mean) == (1, Fraction(4), Fraction(-4))


@pytest.mark.django_db
def test_an_exact_half_mean_rounds_up_from_the_rollups(cohort):
    # Given the PKP procedures (A3, A4, B2) recorded as OTHER beside A5, and their four baselines
    # corrected to 4.6, 4.7, 4.6 and 4.7 (UPDATEs: the triggers mark the partitions)
    Procedure.objects.filter(procedure_type="PKP").update(procedure_type="OTHER")
    for response, vas in zip(
        SurveyResponse.objects.filter(procedure__procedure_type="OTHER", event_code="baseline").order_by("id"),
        ("4.6", "4.7", "4.6", "4.7"),
        strict=False,
    ):
        SurveyResponse.objects.filter(id=response.id).update(vas=Decimal(vas))

    figures = assert_same_as_full_path(CohortFilter(procedure_type="OTHER"), AS_OF)

    # A3, A4, A5 (already OTHER) and B2: 4.6 + 4.7 + 4.6 + 4.7 = 18.6 over 4 = 4.65, shown 4.7
    baseline = figures["vas"]["by_type"]["OTHER"]["baseline"].score
    assert (baseline.n, baseline.exact_mean) == (4, Fraction(93, 20))
    assert format_mean(baseline).startswith("4.7 ± ")


@pytest.mark.django_db
def test_a_change_marks_its_partition_stale_until_the_task_refreshes_it(cohort, site_a):
    assert not StalePartition.objects.exists()
    a1 = cohort["A1"]

    # When an answer is changed behind the services' back (an UPDATE, no signal)
    SurveyResponse.objects.filter(procedure=a1, event_code="m3").update(vas=Decimal("1.0"))

    # Then A1's site-month (January 2026) is stale, and only it
    assert list(StalePartition.objects.values_list("site_id", "performed_month")) == [(site_a.id, D(2026, 1, 1))]

    # And the task refreshes it
    assert rollups_refresh_task() == 1
    assert not StalePartition.objects.exists()
    m3 = outcomes_from_rollups(CohortFilter(), as_of=AS_OF)["vas"]["by_type"]["all"]["m3"]
    assert m3.score.exact_mean == Fraction(3 + 6 + 2 + 4 + 3 - 2, 5)  # 3.0 became 1.0
    assert_same_as_full_path(CohortFilter(), AS_OF)


@pytest.mark.django_db
def test_a_report_refreshes_stale_partitions_before_reading(cohort):
    # Given a deleted answer whose partition nobody refreshed yet
    SurveyResponse.objects.filter(procedure=cohort["A2"], event_code="m3").delete()
    assert StalePartition.objects.exists()

    # When the figures are read, then they include the change (and nothing is stale any more)
    figures = assert_same_as_full_path(CohortFilter(), AS_OF)
    assert figures["vas"]["by_type"]["all"]["m3"].score.n == 4
    assert not StalePartition.objects.exists()


@pytest.mark.django_db
def test_inserts_edits_deletes_and_moves_keep_the_rollups_equal(cohort, site_a, site_b):
    a1, a7, b1 = cohort["A1"], cohort["A7"], cohort["B1"]
    # An insert: B1 answers at 3 months
    SurveyResponse.objects.create(
        patient=b1.patient, procedure=b1, event_code="m3", source="clinic", collected_on=D(2026, 4, 15),
        vas=Decimal("2.5"), odi_percent=Decimal("33.3"), submitted_at=_moment(D(2026, 4, 15)),
    )  # fmt: skip
    # An edit of an ODI and a delete
    SurveyResponse.objects.filter(procedure=a1, event_code="early").update(odi_percent=Decimal("41.1"))
    SurveyResponse.objects.filter(procedure=cohort["A9"], event_code="early").delete()
    # A correction of an old period: A7 (November 2025) was really a PKP performed in December
    Procedure.objects.filter(id=a7.id).update(procedure_type="PKP", performed_on=D(2025, 12, 2))
    assert set(StalePartition.objects.values_list("site_id", "performed_month")) == {
        (site_b.id, D(2026, 1, 1)), (site_a.id, D(2026, 1, 1)), (site_a.id, D(2026, 2, 1)),
        (site_a.id, D(2025, 11, 1)), (site_a.id, D(2025, 12, 1)),
    }  # fmt: skip

    # Refreshed two partitions per transaction: three batches
    assert rollups_refresh(batch=2) == 5
    for cohort_filter in cohorts(site_a, site_b):
        for as_of in MONTH_ENDS:
            assert_same_as_full_path(cohort_filter, as_of)


@pytest.mark.django_db
def test_a_late_answer_counts_from_the_day_it_became_known(cohort):
    # Given A4, whose 3-month survey (window to 15 June 2026) was collected on 10 May but typed in
    # on 3 July
    a4 = cohort["A4"]
    SurveyResponse.objects.create(
        patient=a4.patient, procedure=a4, event_code="m3", source="paper", collected_on=D(2026, 5, 10),
        vas=Decimal("3.0"), odi_percent=Decimal("30.0"), submitted_at=_moment(D(2026, 7, 3)),
    )  # fmt: skip

    # Then the report as of 30 June does not have it, the one as of 31 July does
    pkp = CohortFilter(procedure_type="PKP")
    assert assert_same_as_full_path(pkp, D(2026, 6, 30))["vas"]["by_type"]["PKP"]["m3"].score.n == 1  # A3
    later = assert_same_as_full_path(pkp, D(2026, 7, 31))["vas"]["by_type"]["PKP"]["m3"]
    # A3 (2.0 from 9.0) and A4 (3.0 from 6.0): mean 2.5, change (-7 - 3) / 2 = -5
    assert (later.score.n, later.score.exact_mean, later.change.exact_mean) == (2, Fraction(5, 2), Fraction(-5))


@pytest.mark.django_db
def test_a_repeat_answer_replaces_the_first_only_from_the_day_it_is_known(cohort):
    # Given A1's baseline (8.0, collected 9 Jan) re-taken on 20 February as 9.0
    a1 = cohort["A1"]
    SurveyResponse.objects.create(
        patient=a1.patient, procedure=a1, event_code="baseline", source="phone", collected_on=D(2026, 2, 20),
        vas=Decimal("9.0"), odi_percent=Decimal("62.0"), submitted_at=_moment(D(2026, 2, 20)),
    )  # fmt: skip
    pvp = CohortFilter(site_ids=(a1.site_id,), procedure_type="PVP", performed_to=D(2026, 1, 31))

    # Then as of 31 January the first baseline counts, and as of 28 February the repeat, in the
    # score and in the early change (A1 early 4.0; A8 early 3.0 from 6.5; A7 early 5.0 from 8.0)
    january = assert_same_as_full_path(pvp, D(2026, 1, 31))["vas"]["by_type"]["PVP"]
    february = assert_same_as_full_path(pvp, D(2026, 2, 28))["vas"]["by_type"]["PVP"]
    assert january["early"].change.exact_mean == Fraction(-4 - 3 - Fraction(7, 2), 3)  # A1 early on 30 Jan
    assert february["early"].change.exact_mean == Fraction(-5 - 3 - Fraction(7, 2), 3)
    # Baselines of A1 (9.0 now), A2 7.0, A7 8.0 and A8 6.5
    assert february["baseline"].score.exact_mean == Fraction(9 + 7 + 8 + Fraction(13, 2), 4)
    assert_same_as_full_path(pvp, AS_OF)


@pytest.mark.django_db
def test_a_day_inside_a_month_is_answered_when_the_month_falls_on_one_side(cohort):
    # Every answer of the fixture is known by 21 November (AS_OF): covered, and equal
    assert_same_as_full_path(CohortFilter(), AS_OF)
    # A procedure filter on 10 January splits January's procedures (A1 on the 10th, A8 on the
    # 5th, A2 on the 20th): not covered, the caller takes the full path
    assert outcomes_from_rollups(CohortFilter(performed_from=D(2026, 1, 8)), as_of=AS_OF) is None
    # A1's and A8's 3-month answers (10 and 5 April; both osteoporotic PVPs of January at site A,
    # one rollup row): as of 12 April both are known and A2's (metastasis, 20 April) is not, each
    # row on one side; as of 7 April the row straddles the day
    assert_same_as_full_path(CohortFilter(), D(2026, 4, 12))
    assert outcomes_from_rollups(CohortFilter(), as_of=D(2026, 4, 7)) is None


@pytest.mark.django_db
def test_two_refreshes_in_a_row_change_nothing(cohort):
    rows = list(OutcomeRollup.objects.order_by("id").values())
    assert rollups_refresh() == 0
    assert list(OutcomeRollup.objects.order_by("id").values()) == rows


def test_the_improvement_rules_in_units_match_the_scoring_module_for_every_pair():
    # The refresh's SQL tests improvement on whole units (VAS tenths, ODI ninetieths): check the
    # same arithmetic against registry.followup.scoring on every pair of scores it can see.
    rule = improvement_rule_units()
    vas_values = range(0, 101)
    for before in vas_values:
        for after in vas_values:
            drop = before - after
            in_units = drop > 0 and (
                drop >= rule["vas_points"] or rule["vas_fraction_den"] * drop >= rule["vas_fraction_num"] * before
            )
            assert in_units == vas_clinically_important(Decimal(before) / 10, Decimal(after) / 10), (before, after)
    # ODI: 20 x points / answered for 9 or 10 answered sections, and any one-decimal percent
    odi_units = {1800 * points // answered for answered in (9, 10) for points in range(5 * answered + 1)}
    odi_units |= set(range(0, 9001, 9))
    for before in odi_units:
        for after in odi_units:
            expected = odi_clinically_important(before / 90, after / 90)
            assert (before - after >= rule["odi_points"]) == expected, (before, after)


@pytest.mark.django_db
def test_the_quarterly_build_refreshes_stale_partitions_before_reading(cohort, site_a):
    from reports import services

    # Given A7's 3-month VAS (collected 3 Feb 2026) corrected from 4.0 to 2.0, not yet refreshed
    SurveyResponse.objects.filter(procedure=cohort["A7"], event_code="m3").update(vas=Decimal("2.0"))
    assert StalePartition.objects.filter(site_id=site_a.id, performed_month=D(2025, 11, 1)).exists()

    # When beat builds 2026 Q1
    services.quarterly_reports_build(year=2026, quarter=1, today=D(2026, 4, 1))

    # Then the partition was refreshed on the way and holds the corrected value
    assert not StalePartition.objects.exists()
    row = OutcomeRollup.objects.get(
        site_id=site_a.id, performed_month=D(2025, 11, 1), event_code="m3", kind="score", superseded_month=None
    )
    assert (row.vas_n, row.vas_sum) == (1, 20)


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["coordinator_a", "reviewer_a"])
def test_the_dashboard_from_the_rollups_reads_as_the_full_path(cohort, site_a, persona, request):
    from reports import services
    from reports.metrics import compute_all
    from reports.tables import build_tables

    user = request.getfixturevalue(persona)
    for cohort_filter in (
        CohortFilter(site_ids=(site_a.id,)),
        CohortFilter(site_ids=(site_a.id,), indication="osteoporotic"),
    ):
        content = services.dashboard_content(user=user, cohort=cohort_filter, as_of=AS_OF, use_cache=False)
        full = build_tables(compute_all(load_frames(cohort_filter, as_of=AS_OF)), suppress=content.suppressed)
        assert content.tables == full


@pytest.mark.django_db
def test_the_rebuild_command_recomputes_what_the_triggers_could_not_see(cohort):
    from django.core.management import call_command

    from tests.utils import history_rewritable

    # Given an answer changed with the triggers off (as a restore or a replica would)
    with history_rewritable():
        SurveyResponse.objects.filter(procedure=cohort["A1"], event_code="m3").update(vas=Decimal("1.0"))
    assert not StalePartition.objects.exists()

    # When an operator rebuilds the rollups, then they read as the full path again
    call_command("rollups_rebuild")
    m3 = assert_same_as_full_path(CohortFilter(), AS_OF)["vas"]["by_type"]["all"]["m3"]
    assert m3.score.exact_mean == Fraction(16, 5)  # 3.0 became 1.0: (1 + 6 + 2 + 4 + 3) / 5
