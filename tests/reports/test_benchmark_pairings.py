"""Each literature figure sits beside the registry figure of the same population (issue #10 item 10).

DATA_DICTIONARY.md section 5 and the papers: Barriga-Martín 2022 (001) treated 41 levels in 27
osteoporotic patients by PVP only, so every figure of it (leaks per level, their locations and sizes,
cement and body volume, fill, volume with vs without a leak, the level distribution) is a PVP
figure; Sørensen 2019 (004) gives PVP and KP columns and a pooled one (levels per patient,
symptomatic complications); Gumusay 2022 (000) gives pulmonary cement embolism "after PVP", and
infection and neurological complications for vertebral augmentation as a whole.

Given the fixture cohort, when an administrator opens the dashboard, then every benchmark cell of
every table is checked against this hand-written list of populations.
"""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from reports import services
from reports.benchmarks import TRAJECTORIES
from reports.loaders import CohortFilter
from reports.render import ReportDocument, render_xlsx
from reports.tables import NO_BENCHMARK, Section
from tests.reports.cohort import AS_OF, build_cohort

PVP, PKP, POOLED = "PVP", "PKP", "pooled"
# The benchmark column's text (as shown) -> the population of the figure, from the papers.
POPULATION_BY_TEXT = {
    "37.9 %": PVP,  # 004 Table 1, PVP column
    "13.6 %": PKP,  # 004 Table 1, KP column
    "35 / 2024": PVP,
    "8 / 909": PKP,
    "43 / 2933": POOLED,  # 004 Table 1, total column
    "2.26 levels": PVP,
    "1.95 levels": PKP,
    "2.17 levels": POOLED,
    "2.1–26.0 %": PVP,  # 000 section 3: "the incidence of PCE after PVP"
    "0.36 %": POOLED,  # 000 section 3: "following PVP and PKP"
    "4.0 %": POOLED,  # 000 section 3: overall neurological risk of vertebral augmentation
}

# 004 Table 2 trajectories: a PVP column and a KP column ("mean (n = N)" as shown).
for (_measure, _kind), _trajectory in TRAJECTORIES.items():
    if _kind in (PVP, PKP):
        POPULATION_BY_TEXT.update({f"{point.mean:.2f} (n = {point.n})": _kind for point in _trajectory.points})


def population_of(text: str, source: str) -> str:
    if "Barriga-Martín" in source:
        return PVP  # every figure of 001 (27 patients treated by PVP)
    matches = {population for prefix, population in POPULATION_BY_TEXT.items() if text.startswith(prefix)}
    assert len(matches) == 1, (text, source)
    return matches.pop()


def row_population(table, record: dict[str, str]) -> str:
    if table.benchmark_for:
        column = table.benchmark_for
        return PVP if "PVP" in column else PKP if "PKP" in column else POOLED
    label = " ".join(record[column] for column in table.columns[:2])
    if "PVP" in label:
        return PVP
    if "PKP" in label:
        return PKP
    return POOLED


@pytest.fixture
def tables(site_a, site_b, admin_user):
    build_cohort(site_a, site_b)
    content = services.dashboard_content(user=admin_user, cohort=CohortFilter(site_ids=(site_a.id,)), as_of=AS_OF)
    return content.tables


def test_every_benchmark_sits_beside_the_same_population(tables):
    checked = []
    for table in tables:
        column = next((c for c in table.columns if c.startswith("Benchmark")), None)
        if column is None:
            continue
        for row in table.rows:
            record = dict(zip(table.columns, row, strict=True))
            text = record[column]
            if text == NO_BENCHMARK[0]:
                continue
            source = record.get("Source") or table.benchmark_source
            expected = population_of(text, source)
            # The trajectory tables say their population in the Group column (PVP / PKP rows only).
            where = record.get("Group", "") if table.key.endswith("_by_type") else row_population(table, record)
            assert where == expected, (table.key, row[0], text)
            checked.append((table.key, row[0], expected))

    # Every kind of pairing was seen: PVP-only figures on PVP rows, KP on PKP rows, pooled on All.
    assert {population for _, _, population in checked} == {PVP, PKP, POOLED}
    assert ("level_distribution", "L1", PVP) in checked
    assert ("leak_volume", "With a leak — PVP", PVP) in checked


def test_no_all_row_carries_a_pvp_only_figure(tables):
    by_key = {table.key: table for table in tables}

    for label in ("Vertebral body volume — All", "Fill (cement / body volume) — All", "Volume per level — All"):
        assert by_key["cement"].cell(label, "Benchmark") == "—"
    assert by_key["leaks"].cell("Levels with a leak — All", "Benchmark") == "—"
    assert by_key["leaks"].cell("Levels with a leak — disc location", "Benchmark") == "—"
    assert by_key["leak_types"].cell("Size massive", "Benchmark") == "—"
    for label in ("With a leak — All", "Without a leak — All", "p value — All"):
        assert by_key["leak_volume"].cell(label, "Benchmark") == "—"
    for measure in ("vas", "odi"):
        assert (
            by_key[f"{measure}_by_type"].find(Group="All", Event="Baseline")[by_key[f"{measure}_by_type"].columns[-1]]
            == "—"
        )
    # The pooled figures that do sit beside all procedures.
    assert by_key["activity"].cell("Levels per patient — All", "Benchmark").startswith("2.17 levels")
    assert by_key["complications"].cell("Patients with a neurological complication", "Benchmark") == "4.0 %"


def test_the_figures_sheet_puts_benchmarks_beside_the_compared_column_only(tables):
    document = ReportDocument(title="t", subtitle="", facts=[], sections=[Section("Dashboard", tables)], charts=[])
    sheet = load_workbook(io.BytesIO(render_xlsx(document)))["Figures"]
    rows = list(sheet.iter_rows(values_only=True))
    records = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]

    l1 = {
        r["column"]: r["benchmark_value"]
        for r in records
        if r["table"] == "Treated levels by vertebra" and r["row"] == "L1"
    }
    assert l1 == {"Levels": None, "PVP levels": pytest.approx(100 * 12 / 41)}
    pvp_vas = [r for r in records if r["table"] == "VAS (0–10) by procedure type" and r["row"] == "PVP"]
    assert {r["benchmark_value"] for r in pvp_vas if r["column"] == "Score"} >= {7.48}
    assert {r["benchmark_value"] for r in pvp_vas if r["column"] != "Score"} == {None}
