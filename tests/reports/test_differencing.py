"""An adversarial reviewer: can a hidden small cell be worked out by subtraction?

The attacker reads every table a reviewer gets (the dashboard, and both sections of a quarterly
report) and, for every breakdown whose parts add up to a total printed elsewhere (procedure types,
indications, levels by vertebra, leak pathways and sizes, severities, follow-up outcomes, outcome
groups), subtracts the parts it can read from the total. A hidden part must never be the only one
left. Windows a day apart are refused; reviewers choose whole quarters.
"""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest
from django.urls import reverse

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
        tables_module, "complementary", lambda counts, *, suppress: {k for k, n in counts.items() if 0 < n < 5}
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
        frames, site=site_a, year=2026, quarter=1, version=1, built_at=dt.datetime.now(dt.UTC)
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
