"""An adversarial reviewer: can a hidden small cell be worked out by subtraction?

The attacker reads every table a reviewer gets (the dashboard, and both sections of a quarterly
report) and, for every breakdown whose parts add up to a total printed elsewhere (procedure types,
indications, levels by vertebra, leak pathways and sizes, severities, follow-up outcomes, outcome
groups), subtracts the parts it can read from the total. A hidden part must never be the only one
left. Windows a day apart are refused; reviewers choose whole quarters.

Across releases (reports.disclosure) the attacker subtracts one release from another that contains
it, cell by cell, for every table: a cumulative section minus the previous quarter's, minus its own
quarter, minus any quarter's dashboard, and the cumulative cohort covering two adjacent quarters
minus either of them. Every difference it can read must be 0 or at least 5, and the breakdown
attack above must find nothing in the table of differences either.
"""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest
from django.urls import reverse
from django.utils import timezone

from reports import services
from reports.loaders import CohortFilter, load_frames
from tests.reports.cohort import AS_OF, build_cohort

TYPES = ("PVP", "PKP", "Other")
SHARE = re.compile(r"^(?P<count>\d+) / (?P<denominator>\d+) ")
MEAN_N = re.compile(r"\(n = (?P<n>\d+)")


def share_parts(text: str) -> tuple[int | None, int | None]:
    """(count, denominator) as printed, None where hidden ("<5", ">36", "withheld")."""
    match = SHARE.match(text)
    if match:
        return int(match["count"]), int(match["denominator"])
    if text.startswith("0 / 0"):
        return 0, 0
    denominator = re.match(r"^\S+ / (\d+) ", text)
    return None, int(denominator[1]) if denominator else None


def count_of(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def mean_n(text: str) -> int | None:
    if text.startswith("— (n = 0)"):
        return 0
    match = MEAN_N.search(text)
    return int(match["n"]) if match else None


def attack(total: int | None, parts: dict[str, int | None]) -> list[str]:
    """The parts recovered as a small cell (1-4) by subtracting the readable ones from the total."""
    hidden = [key for key, value in parts.items() if value is None]
    if total is None or len(hidden) != 1:
        return []
    recovered = total - sum(value for value in parts.values() if value is not None)
    return [f"{hidden[0]} = {recovered}"] if 0 < recovered < 5 else []


def breaches(tables: dict) -> list[str]:
    found = []

    def column(key, prefix, labels, *, of=share_parts, part=0, name="Value"):
        table = tables[key]
        return {
            label: of(table.cell(f"{prefix}{label}", name))[part]
            if of is share_parts
            else of(table.cell(f"{prefix}{label}", name))
            for label in labels
        }

    activity = tables["activity"]
    procedures = count_of(activity.cell("Procedures", "Value"))
    levels = count_of(activity.cell("Treated levels", "Value"))
    found += attack(procedures, column("activity", "Procedures — ", TYPES))
    indications = {row[0]: share_parts(row[1])[0] for row in tables["indications"].rows}
    found += attack(procedures, indications)
    distribution = {row[0]: share_parts(row[1])[0] for row in tables["level_distribution"].rows}
    found += attack(levels, distribution)
    for prefix in ("Levels with a leak — ", "Patients with a leak — ", "Procedures with a leak — "):
        for part in (0, 1):  # the counts, and the denominators (levels, patients, procedures per type)
            total = share_parts(tables["leaks"].cell(f"{prefix}All", "Value"))[part]
            found += [f"{prefix}{b}" for b in attack(total, column("leaks", prefix, TYPES, part=part))]
    leaks = share_parts(tables["leaks"].cell("Symptomatic leaks (of leaks)", "Value"))[1]
    details = {row[0]: share_parts(row[1])[0] for row in tables["leak_types"].rows}
    found += attack(leaks, {k: v for k, v in details.items() if k.startswith("Pathway")})
    found += attack(leaks, {k: v for k, v in details.items() if k.startswith("Size")})
    complications = count_of(tables["complications"].cell("Complications recorded", "Value"))
    severity = {row[0]: share_parts(row[1])[0] for row in tables["complication_severity"].rows}
    found += attack(complications, severity)
    for row in tables["follow_up"].rows:
        planned, _, *outcomes = [count_of(cell) for cell in row[1:7]]
        found += [f"follow-up {row[0]}: {b}" for b in attack(planned, dict(zip("cmsp", outcomes, strict=True)))]
    for measure in ("vas", "odi"):
        by_type = tables[f"{measure}_by_type"]
        for event in {row[1] for row in by_type.rows}:
            for column_name in ("Score", "Change from baseline"):
                total = mean_n(by_type.find(Group="All", Event=event)[column_name])
                parts = {kind: mean_n(by_type.find(Group=kind, Event=event)[column_name]) for kind in TYPES}
                found += [f"{measure} {event} {column_name}: {b}" for b in attack(total, parts)]
                by_indication = tables[f"{measure}_by_indication"]
                groups = {
                    row[0]: mean_n(row[OUTCOME_COLUMN[column_name]]) for row in by_indication.rows if row[1] == event
                }
                found += [f"{measure} {event} {column_name} by indication: {b}" for b in attack(total, groups)]
    return found


OUTCOME_COLUMN = {"Score": 2, "Change from baseline": 3}


@pytest.fixture
def cohort(site_a, site_b):
    return build_cohort(site_a, site_b)


def _frames_with_two_other_procedures():
    """32 procedures: 20 PVP, 10 PKP and 2 "Other" (a small cell beside two large ones)."""
    from reports.metrics import make_frames

    kinds = ["PVP"] * 20 + ["PKP"] * 10 + ["OTHER"] * 2
    n = len(kinds)
    return make_frames(
        as_of=AS_OF,
        procedures=pd.DataFrame(
            {
                "procedure_id": range(1, n + 1),
                "patient_id": range(1, n + 1),
                "site_id": 1,
                "performed_on": pd.Timestamp("2026-01-10"),
                "procedure_type": kinds,
                "indication": "osteoporotic",
                "date_of_birth": pd.Timestamp("1950-01-01"),
            }
        ),
        levels=pd.DataFrame(
            {"level_id": range(1, n + 1), "procedure_id": range(1, n + 1), "level": 1, "cement_volume_ml": 2.0}
        ),
    )


def test_the_attack_recovers_a_small_cell_hidden_alone(monkeypatch):
    """The attacker works: with small cells hidden one by one, "Other" = 32 - 20 - 10 = 2."""
    import reports.tables as tables_module
    from reports.metrics import compute_all

    frames = _frames_with_two_other_procedures()
    protected = {t.key: t for t in tables_module.build_tables(compute_all(frames), suppress=True)}
    monkeypatch.setattr(
        tables_module,
        "complementary",
        lambda counts, *, suppress, withheld=(): {k for k, n in counts.items() if 0 < n < 5},
    )
    alone = {t.key: t for t in tables_module.build_tables(compute_all(frames), suppress=True)}

    assert "Other = 2" in breaches(alone)
    assert breaches(protected) == []
    assert protected["activity"].cell("Procedures — Other", "Value") == "<5 / 32 (—)"
    assert protected["activity"].cell("Procedures — PKP", "Value") == "withheld"


def test_reviewer_dashboard_resists_subtraction_across_every_table(cohort, site_a, reviewer_a):
    content = services.dashboard_content(user=reviewer_a, cohort=CohortFilter(site_ids=(site_a.id,)), as_of=AS_OF)

    assert content.suppressed
    assert breaches({table.key: table for table in content.tables}) == []


def test_quarterly_report_resists_subtraction_in_both_sections(cohort, site_a):
    end = dt.date(2026, 3, 31)
    frames = load_frames(CohortFilter(performed_to=end), as_of=end)
    document = services.quarterly_document(
        frames,
        services.quarterly_inputs(
            frames, site=site_a, year=2026, quarter=1, version=1, built_at=dt.datetime.now(dt.UTC)
        ),
    )

    # The report's tables (this quarter, cumulative); the fracture section follows its own rules.
    for section in document.sections[:2]:
        assert breaches({table.key: table for table in section.tables}) == [], section.title


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-01-02", "2026-03-31"),  # a day after the quarter starts
        ("2026-01-01", "2026-03-30"),  # a day before it ends
        ("2026-01-01", "2026-06-30"),  # two quarters: nested windows would differ by a quarter
        ("2026-01-01", ""),
    ],
)
def test_reviewers_choose_whole_quarters_only(cohort, reviewer_a, client_for, start, end):
    response = client_for(reviewer_a).get(reverse("reports:dashboard"), {"performed_from": start, "performed_to": end})

    assert response.status_code == 200
    assert response.context["content"] is None  # no figures for a window that is not one quarter
    assert response.context["form"].errors


def test_adjacent_quarters_share_no_procedure_to_subtract(cohort, site_a, reviewer_a, client_for):
    client = client_for(reviewer_a)
    q4 = client.get(reverse("reports:dashboard"), {"performed_from": "2025-10-01", "performed_to": "2025-12-31"})
    q1 = client.get(reverse("reports:dashboard"), {"performed_from": "2026-01-01", "performed_to": "2026-03-31"})

    for response in (q4, q1):
        assert response.context["content"] is not None
        assert breaches({table.key: table for table in response.context["content"].tables}) == []


def test_site_staff_still_choose_any_window(cohort, coordinator_a, client_for):
    response = client_for(coordinator_a).get(
        reverse("reports:dashboard"), {"performed_from": "2026-01-02", "performed_to": "2026-03-30"}
    )
    assert response.context["content"] is not None


# --- across releases -------------------------------------------------------------------------

# Figures about the procedures themselves: the same whenever they are read. Follow-up, outcomes and
# bone health grow with the day they are known on, so releases known on different days are compared
# on these tables only (reports.disclosure, "Not covered").
PROCEDURE_TABLES = {
    "activity", "indications", "level_distribution", "cement", "cement_products", "cement_lots", "leaks",
    "leak_types", "leak_volume", "complications", "complication_types", "complication_severity",
}  # fmt: skip
KEYED_BY_TWO = {"cement_lots", "vas_by_type", "odi_by_type", "vas_by_indication", "odi_by_indication"}


def _row_key(key: str, row: list[str]) -> tuple[str, ...]:
    return tuple(row[:2]) if key in KEYED_BY_TWO else (row[0],)


def _difference_cell(a: str, b: str | None) -> str:
    """A's cell minus B's as the attacker reads them; "withheld" where either is unreadable. A row
    missing from B is a group B does not have: zero there."""
    texts = [a] if b is None else [a, b]
    if any(MEAN_N.search(text) or text.startswith("— (n = 0)") for text in texts):
        n_a, n_b = mean_n(a), (0 if b is None else mean_n(b))
        return f"x (n = {n_a - n_b})" if None not in (n_a, n_b) and n_a >= n_b else WITHHELD_TEXT
    if any(" / " in text for text in texts):
        (k_a, d_a), (k_b, d_b) = share_parts(a), ((0, 0) if b is None else share_parts(b))
        count = k_a - k_b if None not in (k_a, k_b) else None
        denominator = d_a - d_b if None not in (d_a, d_b) else None
        if denominator is None or denominator < 0:
            return WITHHELD_TEXT
        return f"{count} / {denominator} (x)" if count is not None and count >= 0 else f"? / {denominator} (x)"
    if any(text.isdigit() or text == "<5" for text in texts):
        n_a, n_b = count_of(a), (0 if b is None else count_of(b))
        return str(n_a - n_b) if None not in (n_a, n_b) and n_a >= n_b else WITHHELD_TEXT
    return a


WITHHELD_TEXT = "withheld"


def difference(a: list, b: list, *, tables: set[str] | None = None) -> dict:
    """Release ``a`` minus release ``b`` (which it contains), table by table, as Table objects."""
    from reports.tables import Table

    b_by_key = {table.key: table for table in b}
    result = {}
    for table in a:
        if table.key not in b_by_key or (tables is not None and table.key not in tables):
            continue
        rows_b = {_row_key(table.key, row): row for row in b_by_key[table.key].rows}
        diff = Table(table.key, table.title, list(table.columns))
        for row in table.rows:
            other = rows_b.get(_row_key(table.key, row))
            cells = [
                cell
                if index < len(_row_key(table.key, row))
                else _difference_cell(cell, None if other is None else other[index])
                for index, cell in enumerate(row)
            ]
            diff.add(*cells)
        result[table.key] = diff
    return result


def direct_breaches(tables: dict) -> list[str]:
    """Differences of 1-4 read straight off: counts, denominators, complements, numbers of values."""
    found = []
    for table in tables.values():
        for row in table.rows:
            for column, cell in zip(table.columns, row, strict=True):
                k, d = share_parts(cell) if " / " in cell else (None, None)
                numbers = [k, d, d - k if None not in (k, d) else None, count_of(cell), mean_n(cell)]
                if any(n is not None and 0 < n < 5 for n in numbers):
                    found.append(f"{table.key} / {' / '.join(_row_key(table.key, row))} / {column}: {cell}")
    return found


def subtraction_breaches(a: list, b: list, *, tables: set[str] | None = None) -> list[str]:
    diff = difference(a, b, tables=tables)
    found = direct_breaches(diff)
    if {"activity", "indications", "leaks", "leak_types"} <= set(diff) and tables is None:
        found += breaches(diff)
    return found


def report_sections(site, year: int, quarter: int) -> tuple[list, list]:
    """(this quarter, cumulative) of a report built as beat builds it: from the data known at the
    quarter's end."""
    end = services.quarter_bounds(year, quarter)[1]
    frames = load_frames(CohortFilter(performed_to=end), as_of=end)
    document = services.quarterly_document(
        frames,
        services.quarterly_inputs(
            frames, site=site, year=year, quarter=quarter, version=1, built_at=dt.datetime.now(dt.UTC)
        ),
    )
    return document.sections[0].tables, document.sections[1].tables


def test_cumulative_sections_resist_subtraction_across_reports(cohort, site_a):
    """Site A: one procedure in 2025 Q4 (A7), nine in 2026 Q1, none since."""
    q4, q1, q2 = (report_sections(site_a, *quarter) for quarter in ((2025, 4), (2026, 1), (2026, 2)))

    found = []
    for (this_quarter, cumulative), (_, previous) in ((q1, q4), (q2, q1)):
        # Cumulative Qn minus cumulative Qn-1 (each known at its own quarter's end).
        found += subtraction_breaches(cumulative, previous)
        # Cumulative minus its own quarter.
        found += subtraction_breaches(cumulative, this_quarter)
    # The cumulative cohort of two adjacent quarters minus the earlier one's report (known earlier).
    found += subtraction_breaches(q1[1], q4[0], tables=PROCEDURE_TABLES)
    # The whole of the site's data to date minus a cumulative point two quarters back.
    found += subtraction_breaches(q2[1], q4[1], tables=PROCEDURE_TABLES)

    assert found == []


def test_without_the_difference_rule_the_cumulative_reports_give_the_quarter_away(cohort, site_a, monkeypatch):
    """The attack across reports works: without ``guard_differences`` the cumulative Q1 minus Q1's own
    section prints Q4's single procedure (A7), which the Q4 report hides as "<5"."""
    monkeypatch.setattr(services, "guard_differences", lambda metrics, *, contained: metrics)
    this_quarter, cumulative = report_sections(site_a, 2026, 1)

    assert "activity / Procedures / Value: 1" in subtraction_breaches(cumulative, this_quarter)


def test_the_latest_cumulative_report_resists_subtraction_of_any_quarter_dashboard(
    cohort, site_a, reviewer_a, client_for
):
    """What a reviewer holds as "all time": the cumulative section of the last quarter's report, known
    on the same day as the dashboards they can open (the end of the last completed quarter)."""
    client = client_for(reviewer_a)
    dashboards = {}
    for start, end in (("2025-10-01", "2025-12-31"), ("2026-01-01", "2026-03-31")):
        response = client.get(reverse("reports:dashboard"), {"performed_from": start, "performed_to": end})
        assert response.context["form"].as_of() == response.context["form"].last_quarter[1]
        dashboards[start] = response.context["content"].tables
    last_year, last_quarter = services.previous_quarter(timezone.localdate())
    this_quarter, cumulative = report_sections(site_a, last_year, last_quarter)

    found = []
    for tables in dashboards.values():
        found += subtraction_breaches(cumulative, tables)
    # The adjacent quarters' dashboards side by side: neither contains the other, nor a hidden cell.
    for tables in dashboards.values():
        found += breaches({table.key: table for table in tables})

    assert found == []


def test_reviewers_get_no_all_time_dashboard(cohort, reviewer_a, client_for):
    client = client_for(reviewer_a)

    default = client.get(reverse("reports:dashboard"))
    refused = client.get(reverse("reports:dashboard"), {"performed_from": "", "performed_to": "2026-03-31"})

    form = default.context["form"]
    cohort_shown = form.cohort()
    assert (cohort_shown.performed_from, cohort_shown.performed_to) == form.last_quarter  # the last completed quarter
    assert refused.context["content"] is None
    ongoing = services.quarter_bounds(*divmod_quarter(timezone.localdate()))
    current = client.get(
        reverse("reports:dashboard"), {"performed_from": ongoing[0].isoformat(), "performed_to": ongoing[1].isoformat()}
    )
    assert current.context["content"] is None  # a quarter still growing could be subtracted from itself


def divmod_quarter(day: dt.date) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3 + 1


def test_the_difference_attack_reads_a_disclosed_difference():
    """The attacker works: a cumulative count of 12 beside a previous 10 gives the quarter's 2."""
    from reports.tables import Table

    before, after = (
        Table("activity", "Activity", ["Measure", "Value"]),
        Table("activity", "Activity", ["Measure", "Value"]),
    )
    before.add("Procedures — Other", "10 / 40 (25.0 %)")
    after.add("Procedures — Other", "12 / 50 (24.0 %)")

    assert direct_breaches(difference([after], [before])) == ["activity / Procedures — Other / Value: 2 / 10 (x)"]
