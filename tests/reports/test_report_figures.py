"""Every figure of the report, recomputed by hand from tests/reports/cohort.py and matched to the
decimal shown.

Given the fixture cohort of site A (ten procedures), when an administrator's dashboard (no
small-cell suppression) or a reviewer-facing quarterly report is built, then each cell reads as
the textbook formula computed on the case list says.
"""

from __future__ import annotations

import datetime as dt

import pytest

from reports import services
from reports.loaders import CohortFilter, load_frames
from reports.tables import Section
from tests.reports import hand
from tests.reports.cohort import AS_OF, COLLECTED_DAY, build_cohort, cases

GROUP_OF = {
    "disc_superior": "disc",
    "disc_inferior": "disc",
    "venous_basivertebral": "vascular",
    "venous_segmental": "vascular",
    "epidural": "posterior",
    "paravertebral": "other",
}
TYPE = {"all": "All", "PVP": "PVP", "PKP": "PKP", "OTHER": "Other"}
LEVEL_BENCHMARK = "Benchmark (Barriga-Martín 2022, 41 levels)"


@pytest.fixture
def cohort(site_a, site_b):
    return build_cohort(site_a, site_b)


@pytest.fixture
def tables(cohort, site_a, admin_user):
    content = services.dashboard_content(user=admin_user, cohort=CohortFilter(site_ids=(site_a.id,)), as_of=AS_OF)
    assert not content.suppressed
    return Section("dashboard", content.tables)


def of_type(kind, case_list):
    return [c for c in case_list if kind == "all" or c.kind == kind]


def levels_of(case_list):
    return [level for case in case_list for level in case.levels]


def age(born: dt.date, on: dt.date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def test_activity_counts_types_sex_and_age(tables):
    a = cases("A")
    activity = tables.table("activity")

    assert activity.cell("Patients", "Value") == "10"
    assert activity.cell("Procedures", "Value") == "10"
    assert activity.cell("Treated levels", "Value") == str(len(levels_of(a))) == "13"
    for kind in ("PVP", "PKP", "OTHER"):
        assert activity.cell(f"Procedures — {TYPE[kind]}", "Value") == hand.share(len(of_type(kind, a)), 10)
    assert activity.cell("Female patients", "Value") == hand.share(sum(c.sex == "female" for c in a), 10)
    assert activity.cell("Age at procedure (years)", "Value") == hand.mean([age(c.born, c.performed_on) for c in a])


def test_levels_per_patient_beside_the_literature(tables):
    activity = tables.table("activity")

    for kind in ("all", "PVP", "PKP", "OTHER"):
        counts = [len(c.levels) for c in of_type(kind, cases("A"))]
        assert activity.cell(f"Levels per patient — {TYPE[kind]}", "Value") == hand.mean(counts, decimals=2)
    row = activity.row("Levels per patient — PVP")
    assert row["Benchmark"] == "2.26 levels (n = 2005)"
    # A citation people can read, not the literature file's name (issue #10 item 10).
    assert row["Source"] == "Sørensen et al. 2019, The Spine Journal, Table 1"


def test_level_distribution(tables):
    levels = levels_of(cases("A"))
    distribution = tables.table("level_distribution")

    assert distribution.cell("L1", "Levels") == hand.share(sum(lv.level == "L1" for lv in levels), len(levels))
    assert distribution.cell("T12", "Levels") == hand.share(2, 13)
    assert distribution.cell("L1", "Benchmark (Barriga-Martín 2022, 41 levels)") == hand.share(12, 41)
    assert distribution.cell("L5", "Levels") == hand.share(0, 13)  # none treated; shown beside 001's 3 / 41
    # 001's levels were treated by PVP: its distribution sits beside the PVP levels' column.
    pvp = levels_of(of_type("PVP", cases("A")))
    assert distribution.columns.index("PVP levels") == distribution.columns.index(LEVEL_BENCHMARK) - 1
    assert distribution.benchmark_for == "PVP levels"
    assert distribution.cell("L1", "PVP levels") == hand.share(sum(lv.level == "L1" for lv in pvp), len(pvp))


def test_cement_volume_body_volume_and_fill(tables):
    levels = levels_of(cases("A"))
    cement = tables.table("cement")

    assert cement.cell("Volume per level — All", "Value") == hand.mean([float(lv.volume) for lv in levels], "mL")
    pkp = levels_of(of_type("PKP", cases("A")))
    assert cement.cell("Volume per level — PKP", "Value") == hand.mean([float(lv.volume) for lv in pkp], "mL")
    bodies = [lv for lv in levels if lv.body]
    assert cement.cell("Vertebral body volume — All", "Value") == hand.mean([float(lv.body) for lv in bodies], "cc")
    fills = [float(lv.volume) / float(lv.body) * 100 for lv in bodies]
    assert cement.cell("Fill (cement / body volume) — All", "Value") == hand.mean(fills, "%")
    pvp_bodies = [lv for lv in levels_of(of_type("PVP", cases("A"))) if lv.body]
    assert cement.cell("Vertebral body volume — PVP", "Value") == hand.mean([float(lv.body) for lv in pvp_bodies], "cc")
    assert cement.cell("Fill (cement / body volume) — PVP", "Value") == hand.mean(
        [float(lv.volume) / float(lv.body) * 100 for lv in pvp_bodies], "%"
    )
    assert cement.cell("Vertebral body volume — PVP", "Benchmark") == "26.1 ± 6.0 cc (range 15.6–38.1; n = 41)"
    assert cement.cell("Vertebral body volume — All", "Benchmark") == "—"
    assert cement.cell("Fill (cement / body volume) — PVP", "Benchmark") == "9.0 % (n = 41)"
    assert cement.cell("Fill (cement / body volume) — All", "Benchmark") == "—"
    # Barriga-Martín 2022 treated by PVP only: its volume sits beside the PVP row, no longer beside "All".
    assert cement.cell("Volume per level — PVP", "Benchmark") == "2.0 ± 0.8 mL (range 1.0–4.0; n = 41)"
    assert cement.cell("Volume per level — All", "Benchmark") == "—"

    products = tables.table("cement_products")
    hv = levels_of([c for c in cases("A") if c.kind != "PKP"])
    assert products.cell("VertaFix HV", "Levels") == str(len(hv))
    assert products.cell("VertaFix HV", "Volume per level") == hand.mean([float(lv.volume) for lv in hv], "mL")
    assert tables.table("cement_lots").find(Product="KyphoCem", Lot="KC-777")["Levels"] == "2"


def test_leaks_per_level_and_per_patient_by_procedure_type(tables):
    leaks = tables.table("leaks")

    for kind in ("all", "PVP", "PKP", "OTHER"):
        group = of_type(kind, cases("A"))
        levels = levels_of(group)
        assert leaks.cell(f"Levels with a leak — {TYPE[kind]}", "Value") == hand.share(
            sum(bool(lv.leaks) for lv in levels), len(levels)
        )
        patients_leaking = sum(any(lv.leaks for lv in c.levels) for c in group)
        assert leaks.cell(f"Patients with a leak — {TYPE[kind]}", "Value") == hand.share(patients_leaking, len(group))
    assert leaks.cell("Patients with a leak — PVP", "Value") == "4 / 7 (57.1 %, 95 % CI 25.0–84.2)"
    assert leaks.cell("Patients with a leak — PVP", "Benchmark") == "37.9 %"
    assert leaks.cell("Levels with a leak — PVP", "Benchmark") == hand.share(15, 41)


def test_leaks_by_location_group_pathway_and_size(tables):
    levels = levels_of(cases("A"))
    all_leaks = [leak for lv in levels for leak in lv.leaks]
    leaks = tables.table("leaks")
    for group in ("disc", "vascular", "posterior", "other"):
        hit = sum(any(GROUP_OF[location] == group for location, _, _ in lv.leaks) for lv in levels)
        assert leaks.cell(f"Levels with a leak — {group} location", "Value") == hand.share(hit, len(levels))
    assert leaks.cell("Levels with a leak — vascular location", "Benchmark") == "—"
    pvp_levels = levels_of(of_type("PVP", cases("A")))
    for group in ("disc", "vascular", "posterior", "other"):
        hit = sum(any(GROUP_OF[location] == group for location, _, _ in lv.leaks) for lv in pvp_levels)
        assert leaks.cell(f"PVP levels with a leak — {group} location", "Value") == hand.share(hit, len(pvp_levels))
    assert leaks.cell("PVP levels with a leak — vascular location", "Benchmark") == hand.share(8, 41)

    types = tables.table("leak_types")
    for pathway in ("B", "S", "C"):
        label = next(row[0] for row in types.rows if row[0].startswith(f"Pathway {pathway} "))
        assert types.cell(label, "Leaks") == hand.share(sum(p == pathway for _, p, _ in all_leaks), len(all_leaks))
    assert types.cell("Pathway not recorded", "Leaks") == hand.share(sum(p == "" for _, p, _ in all_leaks), 6)
    for size in ("minor", "moderate", "massive"):
        assert types.cell(f"Size {size}", "Leaks") == hand.share(sum(s == size for _, _, s in all_leaks), 6)
    assert types.cell("Size minor", "Benchmark") == "—"
    pvp_leaks = [leak for lv in levels_of(of_type("PVP", cases("A"))) for leak in lv.leaks]
    for size in ("minor", "moderate", "massive"):
        count = sum(s == size for _, _, s in pvp_leaks)
        assert types.cell(f"PVP leaks — size {size}", "Leaks") == hand.share(count, len(pvp_leaks))
    assert types.cell("PVP leaks — size minor", "Benchmark") == hand.share(12, 15)


def test_cement_volume_with_vs_without_leak_and_welch_p(tables):
    levels = levels_of(cases("A"))
    with_leak = [float(lv.volume) for lv in levels if lv.leaks]
    without = [float(lv.volume) for lv in levels if not lv.leaks]
    volume = tables.table("leak_volume")

    assert volume.cell("With a leak — All", "Cement volume") == hand.mean(with_leak, "mL", 2)
    assert volume.cell("Without a leak — All", "Cement volume") == hand.mean(without, "mL", 2)
    assert volume.cell("p value — All", "Cement volume") == hand.rounded(hand.welch_p(with_leak, without), 3)
    assert volume.cell("p value — All", "Benchmark") == "—"
    pvp = levels_of(of_type("PVP", cases("A")))
    pvp_with, pvp_without = (
        [float(lv.volume) for lv in pvp if lv.leaks],
        [float(lv.volume) for lv in pvp if not lv.leaks],
    )
    assert volume.cell("With a leak — PVP", "Cement volume") == hand.mean(pvp_with, "mL", 2)
    assert volume.cell("Without a leak — PVP", "Cement volume") == hand.mean(pvp_without, "mL", 2)
    assert volume.cell("p value — PVP", "Cement volume") == hand.rounded(hand.welch_p(pvp_with, pvp_without), 3)
    assert volume.cell("p value — PVP", "Benchmark") == "0.267"
    assert volume.cell("With a leak — PVP", "Benchmark") == "2.13 ± 0.68 mL (n = 15)"


def test_complication_rates(tables):
    a = cases("A")
    table = tables.table("complications")

    def patients_with(predicate, group=a):
        return sum(
            any(predicate(kind, severity, symptomatic) for kind, severity, symptomatic in c.complications)
            for c in group
        )

    assert table.cell("Complications recorded", "Value") == str(sum(len(c.complications) for c in a))
    assert table.cell("Patients with a symptomatic complication", "Value") == hand.share(
        patients_with(lambda k, s, sym: sym), 10
    )
    assert table.cell("Patients with a symptomatic complication", "Benchmark") == hand.share(43, 2933)
    assert table.cell("Patients with a major complication (SIR severe or worse)", "Value") == hand.share(
        patients_with(lambda k, s, sym: s in ("severe", "life_threatening", "death")), 10
    )
    assert table.cell("Patients with pulmonary cement embolism — PVP", "Value") == hand.share(
        patients_with(lambda k, s, sym: k == "embolism_pulmonary", of_type("PVP", a)), 7
    )
    assert table.cell("Patients with pulmonary cement embolism — PVP", "Benchmark") == "2.1–26.0 %"
    assert table.cell("Procedures with an infection", "Value") == hand.share(
        patients_with(lambda k, s, sym: k.startswith("infection_")), 10
    )
    assert table.cell("Procedures with an infection", "Benchmark") == "0.36 % of 826"
    assert table.cell("Patients with a neurological complication", "Value") == hand.share(
        patients_with(lambda k, s, sym: k.startswith("neuro_")), 10
    )
    # Any neurological complication sits beside the review's overall neurological risk (4.0 %),
    # not beside its transient deficits (2.5 %).
    assert table.cell("Patients with a neurological complication", "Benchmark") == "4.0 %"
    assert table.cell("Patients with a neurological complication", "Source") == (
        "Gumusay et al. 2022, The Breast, section 3"
    )


def test_adjacent_fracture_with_vs_without_intradiscal_leak(tables):
    a = cases("A")
    disc = [c for c in a if any(GROUP_OF[loc] == "disc" for lv in c.levels for loc, _, _ in lv.leaks)]
    other = [c for c in a if c not in disc]
    fractured = {c.key for c in a if any(k == "fracture_adjacent" for k, _, _ in c.complications)}
    table = tables.table("complications")

    assert table.cell("New adjacent-level fracture — procedures with an intradiscal leak", "Value") == hand.share(
        sum(c.key in fractured for c in disc), len(disc)
    )
    assert table.cell("New adjacent-level fracture — procedures without", "Value") == hand.share(
        sum(c.key in fractured for c in other), len(other)
    )
    # 2 of 2 against 0 of 8: only the observed table is as extreme, p = 1 / C(10, 2) = 1 / 45.
    assert table.cell(
        "Adjacent-level fracture, with vs without intradiscal leak: Fisher's exact p", "Value"
    ) == hand.rounded(1 / 45, 3)


def test_complications_by_type_and_severity(tables):
    by_type = tables.table("complication_types")
    assert by_type.cell("Fracture — new adjacent-level", "Complications") == "2"
    assert by_type.cell("Fracture — new adjacent-level", "Procedures affected") == hand.share(2, 10)
    severity = tables.table("complication_severity")
    assert severity.cell("Severe", "Complications") == hand.share(2, 5)
    assert severity.cell("Mild", "Complications") == hand.share(1, 5)


def improved(measure, before, after):
    drop = before - after
    if measure == "vas":
        return drop > 0 and (drop >= 2 or drop >= 0.3 * before - 1e-9)
    return drop >= 10


@pytest.mark.parametrize(("measure", "column"), [("vas", 0), ("odi", 1)])
def test_outcomes_by_procedure_type_with_change_and_clinically_important_share(tables, measure, column):
    table = tables.table(f"{measure}_by_type")
    labels = {"baseline": "Baseline", "early": "Early (2–6 weeks)", "m3": "3 months"}
    for kind in ("all", "PVP", "PKP", "OTHER"):
        group = of_type(kind, cases("A"))
        for event, label in labels.items():
            row = table.find(Group=TYPE[kind], Event=label)
            scores = [c.surveys[event][column] for c in group if event in c.surveys]
            assert row["Score"] == (hand.mean(scores, decimals=2) if scores else "— (n = 0)"), (kind, event)
            if event == "baseline":
                continue
            pairs = [(c.surveys["baseline"][column], c.surveys[event][column]) for c in group if event in c.surveys]
            changes = [after - before for before, after in pairs]
            assert row["Change from baseline"] == (hand.mean(changes, decimals=2) if changes else "— (n = 0)")
            if pairs:
                hits = sum(improved(measure, before, after) for before, after in pairs)
                assert row["Clinically important improvement"] == hand.share(hits, len(pairs))
    assert table.find(Group="PVP", Event="3 months")["Benchmark (Sørensen 2019, Table 2)"] == (
        "2.50 (n = 370)" if measure == "vas" else "31.68 (n = 67)"
    )


def test_outcomes_by_indication(tables):
    table = tables.table("vas_by_indication")
    osteoporotic = [c for c in cases("A") if c.indication == "osteoporotic"]
    pairs = [(c.surveys["baseline"][0], c.surveys["m3"][0]) for c in osteoporotic if "m3" in c.surveys]
    row = table.find(Group="Osteoporotic fracture", Event="3 months")
    assert row["Change from baseline"] == hand.mean([b - a for a, b in pairs], decimals=2)
    assert row["Clinically important improvement"] == hand.share(
        sum(improved("vas", a, b) for a, b in pairs), len(pairs)
    )


def test_follow_up_counts_censor_death_and_withdrawal(tables):
    a = cases("A")
    table = tables.table("follow_up")
    for event, label in (("early", "Early (2–6 weeks)"), ("m3", "3 months")):
        statuses = [c.events[event].partition(":")[0] for c in a if event in c.events]
        completed = statuses.count("completed")
        missed = statuses.count("missed")
        censored = sum(1 for c in a if c.events.get(event, "").startswith("cancelled"))
        row = table.row(label)
        assert (row["Planned"], row["Completed"], row["Missed"]) == (str(len(statuses)), str(completed), str(missed))
        assert row["Censored (death / withdrawal)"] == str(censored) == "2"
        assert row["Response rate"] == hand.share(completed, completed + missed)
    # The superseded 12-month event of A4 is not counted; A7's is not yet due.
    assert table.row("12 months")["Planned"] == "1"
    assert table.row("12 months")["Not yet due"] == "1"


def test_bone_health_done_and_on_time(tables):
    actions = [b for c in cases("A") for b in c.bone]
    table = tables.table("bone_health")
    dxa = [b for b in actions if b[0] == "dxa" and (b[2] <= AS_OF or b[1] == "done")]
    assert table.cell("DXA scan — done", "Value") == hand.share(sum(b[1] == "done" for b in dxa), len(dxa))
    assert table.cell("DXA scan — done by the due date", "Value") == hand.share(
        sum(b[1] == "done" and b[3] <= b[2] for b in dxa), len(dxa)
    )
    therapy = [b for b in actions if b[0] == "osteoporosis_therapy" and b[1] != "not_applicable"]
    assert table.cell("Osteoporosis therapy started — done", "Value") == hand.share(1, len(therapy))
    answers = [c.therapy_taken["m3"] for c in cases("A") if c.therapy_taken.get("m3") is not None]
    assert table.cell("Patients taking osteoporosis therapy at 3 months (survey)", "Value") == hand.share(
        sum(answers), len(answers)
    )


def test_data_completeness(tables):
    levels = levels_of(cases("A"))
    all_leaks = [leak for lv in levels for leak in lv.leaks]
    table = tables.table("completeness")
    assert table.cell("Fluoroscopy time (procedures)", "Recorded") == hand.share(3, 10)
    assert table.cell("Baseline VAS (procedures)", "Recorded") == hand.share(10, 10)
    assert table.cell("Vertebral body volume (levels)", "Recorded") == hand.share(
        sum(lv.body is not None for lv in levels), len(levels)
    )
    assert table.cell("Yeom pathway (leaks)", "Recorded") == hand.share(sum(p != "" for _, p, _ in all_leaks), 6)


# --- the quarterly report (reviewer-facing) --------------------------------------------------


def test_quarterly_report_shows_the_quarter_and_the_cumulative_cohort_with_small_cells_hidden(cohort, site_a):
    start, end = dt.date(2026, 1, 1), dt.date(2026, 3, 31)
    frames = load_frames(CohortFilter(performed_to=end), as_of=end)

    document = services.quarterly_document(
        frames,
        services.quarterly_inputs(
            frames, site=site_a, year=2026, quarter=1, version=1, built_at=dt.datetime.now(dt.UTC)
        ),
    )

    quarter, cumulative = document.sections[:2]
    in_quarter = cases("A", performed_from=start, performed_to=end)
    q_levels = levels_of(in_quarter)
    assert quarter.table("activity").cell("Patients", "Value") == str(len(in_quarter)) == "9"
    # 4 of 11 levels leaked this quarter: a count under 5 is shown as "<5" without its rate.
    assert sum(bool(lv.leaks) for lv in q_levels) == 4
    assert quarter.table("leaks").cell("Levels with a leak — All", "Value") == "<5 / 11 (—)"
    # Cumulatively 5 of 13, no small cell, but 5 - 4 = 1 level of 13 - 11 = 2 is A7's (treated alone
    # in 2025 Q4): withheld, as is every cumulative figure A7 changes by 1-4 (reports.disclosure).
    assert cumulative.table("leaks").cell("Levels with a leak — All", "Value") == "withheld"
    assert cumulative.table("complications").cell("Patients with a symptomatic complication", "Value") == "withheld"
    # A7 had no complication of its own: the count is the quarter's, shown in both sections.
    assert cumulative.table("complications").cell("Complications recorded", "Value") == "5"
    # Answers collected after the quarter are not in it: by 31 March only A7's 3-month survey was in.
    collected = [
        c for c in cases("A") if "m3" in c.surveys and c.performed_on + dt.timedelta(COLLECTED_DAY["m3"]) <= end
    ]
    assert [c.key for c in collected] == ["A7"]
    assert cumulative.table("vas_by_type").find(Group="All", Event="3 months")["Score"] == "withheld"
    # No range for reviewers (issue #10 item 6): a minimum and a maximum are one patient's score each.
    for section in (quarter, cumulative):
        for key in ("vas_by_type", "odi_by_type", "vas_by_indication", "odi_by_indication"):
            assert not any("range" in row[2] for row in section.table(key).rows)
