"""The counts of many releases at once (``reports.release_counts``, issue #10) are those of
``compute_all`` on each release: every count, denominator, number of values and group the
disclosure guard reads, on synthetic cohorts that exercise every figure (patients treated in
several quarters, an empty quarter, groups missing from a quarter, deaths and withdrawals,
statuses and answers known only after the previous quarter ended)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from registry.procedures.models import ComplicationType, LeakLocation, SirSeverity
from reports.disclosure import contained_counts, guard_differences
from reports.metrics import Frames, Metrics, OutcomeRow, compute_all, make_frames
from reports.release_counts import release_counts
from reports.stats import MeanSummary, Proportion
from tests.reports.guarded import shown, withheld_count

# The report of 2026 Q1, as known at its end; procedures from 2024 Q3, none in 2025 Q2.
START, END = dt.date(2026, 1, 1), dt.date(2026, 3, 31)
QUARTERS = [
    (dt.date(2024, 7, 1), dt.date(2024, 9, 30)),
    (dt.date(2024, 10, 1), dt.date(2024, 12, 31)),
    (dt.date(2025, 1, 1), dt.date(2025, 3, 31)),
    (dt.date(2025, 4, 1), dt.date(2025, 6, 30)),
    (dt.date(2025, 7, 1), dt.date(2025, 9, 30)),
    (dt.date(2025, 10, 1), dt.date(2025, 12, 31)),
]
EMPTY_QUARTER = 3
SEEDS = range(12)


def guard_view(value):
    """What ``reports.disclosure`` reads of a figure: counts, denominators, numbers of values, and
    which groups there are; anything else (means, intervals, tests) as "not read"."""
    if isinstance(value, Metrics):
        return {field.name: guard_view(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, Proportion):
        return ("proportion", value.count, value.denominator)
    if isinstance(value, MeanSummary):
        return ("n", value.n)
    if isinstance(value, OutcomeRow):
        return ("row", guard_view(value.score), guard_view(value.change), guard_view(value.improved))
    if isinstance(value, bool):
        return ("not read",)
    if isinstance(value, int | np.integer):
        return ("count", int(value))
    if isinstance(value, dict):
        return {key: guard_view(item) for key, item in value.items()}
    if isinstance(value, list):
        return ("list", tuple(value))
    return ("not read",)


def _day(rng, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=int(rng.integers(0, (end - start).days + 1)))


def _maybe(rng, value, missing: float):
    return None if rng.random() < missing else value


def synthetic_frames(seed: int, *, quarters=QUARTERS, own_quarter: float = 0.15) -> Frames:
    """One site's registry as known on END: procedures in ``quarters`` (but EMPTY_QUARTER) and,
    with probability ``own_quarter``, in the report's own quarter."""
    rng = np.random.default_rng(seed)
    choose = rng.choice
    patients = {
        patient_id: {
            "sex": str(choose(["female", "male"], p=[0.7, 0.3])),
            "date_of_birth": _maybe(rng, _day(rng, dt.date(1930, 1, 1), dt.date(1970, 12, 31)), 0.05),
            "deceased_on": _maybe(rng, _day(rng, dt.date(2024, 8, 1), END), 0.8),
            "withdrawn_on": _maybe(rng, _day(rng, dt.date(2024, 8, 1), END), 0.85),
        }
        for patient_id in range(1, 36)
    }
    used = [q for i, q in enumerate(quarters) if i != EMPTY_QUARTER]
    rows = {name: [] for name in ("procedures", "levels", "leaks", "complications", "responses", "events", "bone")}
    for procedure_id in range(1, 81):
        patient_id = int(rng.integers(1, 36))
        quarter = (START, END) if rng.random() < own_quarter else used[int(rng.integers(0, len(used)))]
        performed = _day(rng, *quarter)
        indication = str(choose(["osteoporotic", "metastasis", "myeloma", "haemangioma"], p=[0.5, 0.2, 0.15, 0.15]))
        rows["procedures"].append(
            {
                "procedure_id": procedure_id,
                "patient_id": patient_id,
                "site_id": 1,
                "performed_on": performed,
                "procedure_type": str(choose(["PVP", "PKP", "OTHER"], p=[0.6, 0.32, 0.08])),
                "indication": indication,
                "consent_status": "consented",
                "fracture_age": str(choose(["acute", "chronic", ""])),
                "fracture_age_days": _maybe(rng, float(rng.integers(3, 200)), 0.6),
                "mri_oedema": str(choose(["present", "absent", ""])),
                "fluoroscopy_seconds": _maybe(rng, float(rng.integers(60, 900)), 0.3),
                "dose_area_product": _maybe(rng, float(rng.integers(5, 90)), 0.4),
                "lowest_t_score": _maybe(rng, -float(rng.integers(10, 40)) / 10, 0.4),
                **patients[patient_id],
            }
        )
        for _ in range(int(rng.integers(0, 4))):  # some procedures without levels
            level_id = len(rows["levels"]) + 1
            product = str(choose(["Osteo-V", "Kypho-C", "Vertefix"]))
            rows["levels"].append(
                {
                    "level_id": level_id,
                    "procedure_id": procedure_id,
                    "level": int(rng.integers(15, 25)),
                    "cement_volume_ml": _maybe(rng, float(rng.integers(10, 80)) / 10, 0.1),
                    "body_volume_cc": _maybe(rng, float(rng.integers(150, 400)) / 10, 0.25),
                    "product": product,
                    "lot": f"{product[:2]}{rng.integers(1, 4)}",
                    "viscosity": str(choose(["high", "low", ""])),
                    "needle_gauge": _maybe(rng, float(choose([11, 13])), 0.3),
                }
            )
            for _ in range(int(choose([0, 0, 1, 2]))):
                rows["leaks"].append(
                    {
                        "leak_id": len(rows["leaks"]) + 1,
                        "level_id": level_id,
                        "location": str(choose(LeakLocation.values)),
                        "pathway": str(choose(["B", "S", "C", ""])),
                        "size_grade": str(choose(["minor", "moderate", "massive", ""])),
                        "symptomatic": bool(rng.random() < 0.15),
                    }
                )
        kinds = [ComplicationType.PCE, ComplicationType.ADJACENT_FRACTURE, ComplicationType.RADICULOPATHY]
        kinds += [ComplicationType.WOUND_INFECTION, ComplicationType.RIB_FRACTURE]
        for _ in range(int(choose([0, 0, 1, 2]))):
            rows["complications"].append(
                {
                    "complication_id": len(rows["complications"]) + 1,
                    "procedure_id": procedure_id,
                    "complication_type": str(choose(kinds)),
                    "severity": str(choose(SirSeverity.values)),
                    "symptomatic": bool(rng.random() < 0.5),
                }
            )
        codes = ["baseline", "early", "m3", "m12"] + (["m6"] if rng.random() < 0.3 else [])
        for code in codes:
            # A baseline window open a while after the procedure: pending at the previous quarter's end.
            days = {"baseline": int(rng.integers(0, 30)), "early": 42, "m3": 120, "m6": 200, "m12": 395}[code]
            closes = performed + dt.timedelta(days=days)
            status = str(choose(["completed", "missed", "cancelled", "superseded", "scheduled", "invited"]))
            rows["events"].append(
                {
                    "event_id": len(rows["events"]) + 1,
                    "procedure_id": procedure_id,
                    "event_code": code,
                    "status": status,
                    "status_changed_on": _day(rng, performed, END),
                    "invite_on": _maybe(rng, closes - dt.timedelta(days=20), 0.2),
                    "window_closes_on": closes,
                    "cancel_cause": str(choose(["withdrawn", "deceased", "opted_out", "superseded"]))
                    if status == "cancelled"
                    else "",
                }
            )
            for _ in range(int(choose([0, 1, 1, 2]))):  # unanswered, answered, answered twice
                answered = _maybe(rng, int(choose([9, 10])), 0.15)
                points = None if answered is None else int(rng.integers(0, 5 * answered + 1))
                rows["responses"].append(
                    {
                        "response_id": len(rows["responses"]) + 1,
                        "procedure_id": procedure_id,
                        "event_code": "" if rng.random() < 0.05 else code,
                        "collected_on": _day(rng, performed, END),
                        "vas": _maybe(rng, float(rng.integers(0, 101)) / 10, 0.15),
                        "odi_percent": None if points is None else round(20 * points / answered, 1),
                        "odi_points": points,
                        "odi_answered": answered,
                        "osteoporosis_therapy_taken": _maybe(rng, bool(rng.random() < 0.6), 0.3),
                    }
                )
        if indication == "osteoporotic":
            for kind in ("dxa", "osteoporosis_therapy"):
                due = performed + dt.timedelta(days=int(rng.integers(20, 200)))
                status = str(choose(["done", "declined", "not_applicable", "due"]))
                rows["bone"].append(
                    {
                        "action_id": len(rows["bone"]) + 1,
                        "procedure_id": procedure_id,
                        "kind": kind,
                        "status": status,
                        "due_on": due,
                        "done_on": due + dt.timedelta(days=int(rng.integers(-40, 40))) if status == "done" else None,
                    }
                )
    return make_frames(
        as_of=END,
        procedures=pd.DataFrame(rows["procedures"]),
        levels=pd.DataFrame(rows["levels"]),
        leaks=pd.DataFrame(rows["leaks"]),
        complications=pd.DataFrame(rows["complications"]),
        responses=pd.DataFrame(rows["responses"]),
        events=pd.DataFrame(rows["events"]),
        bone_actions=pd.DataFrame(rows["bone"]),
        sites=pd.DataFrame([{"site_id": 1, "code": "SYN"}]),
    )


def releases_by_definition(cumulative: Frames, start: dt.date, quarters=QUARTERS) -> list[Frames]:
    """The releases a reviewer holds beside the cumulative section (``reports.disclosure``): the
    previous quarter's cumulative cohort, then each quarter from the first procedure's."""
    first = cumulative.procedures["performed_on"].min().date()
    spanned = [(begin, end) for begin, end in quarters if end >= first and begin < start]
    return [
        cumulative.up_to(start - dt.timedelta(days=1)),
        *(cumulative.performed_between(begin, end) for begin, end in spanned),
    ]


@pytest.mark.parametrize("seed", SEEDS)
def test_release_counts_are_compute_alls_counts_of_each_release(seed):
    frames = synthetic_frames(seed).up_to(END)
    rng = np.random.default_rng(1000 + seed)
    # Four releases, the third left empty, and procedures in none.
    release = rng.choice([0, 1, 3, 4], size=len(frames.procedures))

    counted = release_counts(frames, release=release, releases=4)

    assert len(counted) == 4
    for r in range(4):
        expected = compute_all(frames.restrict(pd.Series(release == r)))
        assert guard_view(counted[r]) == guard_view(expected), r


@pytest.mark.parametrize("seed", SEEDS)
def test_contained_counts_are_the_counts_of_the_releases_a_reviewer_holds(seed):
    cumulative = synthetic_frames(seed).up_to(END)
    releases = releases_by_definition(cumulative, START)

    counted = contained_counts(cumulative, start=START)

    assert [guard_view(metrics) for metrics in counted] == [guard_view(compute_all(f)) for f in releases]
    # The empty quarter is one of them, with nothing in it.
    first = cumulative.procedures["performed_on"].min().date()
    if first < QUARTERS[EMPTY_QUARTER][0]:
        empty = 1 + [q for q in QUARTERS if q[1] >= first].index(QUARTERS[EMPTY_QUARTER])
        assert counted[empty].activity["procedures"] == 0


def test_a_site_whose_procedures_are_all_in_the_reports_quarter_holds_only_an_empty_previous_release():
    cumulative = synthetic_frames(0, own_quarter=1.0).up_to(END)

    counted = contained_counts(cumulative, start=START)

    assert [guard_view(metrics) for metrics in counted] == [
        guard_view(compute_all(cumulative.up_to(START - dt.timedelta(days=1))))
    ]
    assert counted[0].activity["procedures"] == 0


def test_the_synthetic_cohorts_exercise_every_figure_the_guard_reads():
    """Not vacuous: every count and number of values the guard reads is above zero in some
    release of some cohort."""
    largest: dict[tuple, int] = {}
    for seed in SEEDS:
        cumulative = synthetic_frames(seed).up_to(END)
        for metrics in contained_counts(cumulative, start=START):
            for path, count in leaves(guard_view(metrics)):
                largest[path] = max(largest.get(path, 0), count)

    assert len(largest) > 350
    assert [path for path, count in largest.items() if count == 0] == []


def leaves(view, path=()):
    """(path, count or n) of every figure."""
    if isinstance(view, dict):
        for key, item in view.items():
            yield from leaves(item, (*path, key))
    elif view[0] == "row":
        for name, part in zip(("score", "change", "improved"), view[1:], strict=True):
            yield from leaves(part, (*path, name))
    elif view[0] in ("proportion", "n", "count"):
        yield path, view[1]


@pytest.mark.parametrize("seed", SEEDS)
def test_the_guard_withholds_the_same_figures_as_against_each_release_computed_alone(seed):
    cumulative = synthetic_frames(seed).up_to(END)
    quarter = compute_all(cumulative.performed_between(START, END))
    figures = compute_all(cumulative)

    alone = guard_differences(
        figures, contained=[quarter, *map(compute_all, releases_by_definition(cumulative, START))]
    )
    counted = guard_differences(figures, contained=[quarter, *contained_counts(cumulative, start=START)])

    assert shown(counted) == shown(alone)
    assert withheld_count(alone) > 0
