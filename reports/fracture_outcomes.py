"""New fractures and re-treatment in the reports: Kaplan–Meier tables and charts, log-rank tests,
and how many events investigators have adjudicated (DATA_DICTIONARY.md §6).

The statistics are ``reports.survival`` (pure); the cohort comes from
``registry.fractures.selectors.survival_subjects``. The dashboard caches this section under a
marker the database moves whenever a survey, procedure, leak, fracture, re-treatment, sign-off,
death or withdrawal is saved or deleted (``reports.fracture_marker``, one row to read), so a
recorded fracture shows at once while unchanged data is not recomputed; the views beat keeps
(each site, the whole registry: ``dashboard_snapshots_store``) show their snapshot, at most one
beat interval old, when the data changed since, rather than computing on the request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

from django.core.cache import cache
from django.utils import timezone

from registry.fractures import selectors as fracture_selectors
from registry.procedures.models import ProcedureType
from reports import charts, fracture_marker
from reports.stats import SMALL_CELL, format_number, suppress_count
from reports.survival import KaplanMeier, kaplan_meier, logrank
from reports.tables import Table

OUTCOMES = (
    ("new_fracture", "New-fracture-free survival", "fracture_days"),
    ("adjacent_fracture", "Adjacent-fracture-free survival", "adjacent_fracture_days"),
    ("reaugmentation", "Re-augmentation / re-operation-free survival", "reintervention_days"),
)
# Charted: any new fracture and re-treatment; adjacent fractures are tabulated.
CHARTED = ("new_fracture", "reaugmentation")
RISK_DAYS = [0, 90, 180, 365, 730]
LANDMARKS = ((90, "3 months"), (365, "12 months"))

LITERATURE = (
    "Literature: the sources give no rate of new fractures after augmentation to plot beside these "
    "curves. Gumusay et al., The Breast 2022 (section 3) report secondary fractures adjacent to "
    "augmented vertebrae, more often with greater augmentation and at the thoracolumbar junction; "
    "Aydoğdu & Durak (chapter, 'Longitudinal 3–12 months') link intradiscal cement to adjacent-level "
    "fractures (Lin et al. 2004)."
)
METHODS = (
    "Time zero is the index (first) procedure; the event is the first confirmed new fracture (of the "
    "class analysed) or the first re-augmentation / re-operation of a treated level. Patients are "
    "censored at the last contact (last survey, recorded fracture or re-treatment), death or "
    "withdrawal, whichever is first. Kaplan–Meier estimates with Greenwood 95 % intervals "
    "(log−log); groups compared by the log-rank test. Levels are classified by the registry from "
    "the treated levels (adjacent, remote, index-level), never by hand."
)


@dataclass
class FractureOutcomes:
    tables: list[Table]
    charts: list[tuple[str, str]]
    pngs: list[tuple[str, bytes]] = field(default_factory=list)
    adjudication: str = ""
    methods: str = METHODS
    literature: str = LITERATURE


def _groupings(subjects) -> list[tuple[str, dict[str, list]]]:
    by_leak = {"Intradiscal leak": [], "No intradiscal leak": []}
    labels = {value: str(label) for value, label in ProcedureType.choices}
    by_type: dict[str, list] = {label: [] for label in labels.values()}
    for subject in subjects:
        by_leak["Intradiscal leak" if subject.disc_leak else "No intradiscal leak"].append(subject)
        by_type[labels[subject.procedure_type]].append(subject)
    return [
        ("All patients", {"All patients": list(subjects)}),
        ("By intradiscal cement leak", by_leak),
        ("By procedure type", {label: rows for label, rows in by_type.items() if rows}),
    ]


def _durations(rows, attribute: str) -> tuple[list[int], list[bool]]:
    """Days to the event where there was one, else days observed (censored)."""
    days = [getattr(s, attribute) for s in rows]
    return [d if d is not None else s.observed_days for d, s in zip(days, rows, strict=True)], [
        d is not None for d in days
    ]


def _curve(rows, attribute: str) -> KaplanMeier:
    return kaplan_meier(*_durations(rows, attribute))


def _estimate(km: KaplanMeier, day: int, *, suppress: bool) -> str:
    if suppress and km.n < SMALL_CELL:
        return "—"
    if km.at_risk_at(day) == 0:
        return "not reached"
    value = km.survival_at(day)
    interval = km.interval_at(day)
    text = f"{format_number(float(value) * 100)} %"
    if interval is not None:
        text += f" ({format_number(interval[0] * 100)}–{format_number(interval[1] * 100)})"
    return text


def _logrank_text(groups: dict[str, list], attribute: str) -> str:
    result = logrank({label: _durations(rows, attribute) for label, rows in groups.items()})
    if result is None:
        return "not computable"
    return f"χ² {format_number(float(result.statistic), 2)}, df {result.df}, p = {result.p_value:.3g}"


def build(subjects, *, suppress: bool, adjudicated: dict, with_png: bool = False) -> FractureOutcomes:
    groupings = _groupings(subjects)
    count = suppress_count if suppress else str
    columns = ["Group", "Patients", "Events"] + [f"Event-free at {label} (95 % CI)" for _, label in LANDMARKS]
    columns.append("Log-rank")
    tables, result_charts, pngs = [], [], []
    for key, title, attribute in OUTCOMES:
        table = Table(key=f"km_{key}", title=title, columns=columns, note=METHODS)
        panels = []
        for grouping, groups in groupings:
            curves = {label: _curve(rows, attribute) for label, rows in groups.items()}
            test = "" if len(groups) < 2 else _logrank_text(groups, attribute)
            for index, (label, km) in enumerate(curves.items()):
                name = label if grouping == "All patients" else f"{grouping.removeprefix('By ')}: {label}"
                table.add(
                    name,
                    count(km.n),
                    count(km.events),
                    *[_estimate(km, day, suppress=suppress) for day, _ in LANDMARKS],
                    test if index == 0 else "",
                )
            shown = {label: km for label, km in curves.items() if km.n and not (suppress and km.n < SMALL_CELL)}
            panels.append((grouping, shown))
        tables.append(table)
        if key in CHARTED and with_png:
            with charts.with_png():
                chart = charts.kaplan_meier_panels(title, panels, risk_days=RISK_DAYS, suppress=suppress)
            # Drawn once: the stored HTML shows the PNG the PDF embeds (an SVG as well doubled the
            # cost of these, the largest charts of a quarterly build; BENCHMARKS.md "Reports").
            result_charts.append((title, str(chart)))
            pngs.append((title, chart.png))
        elif key in CHARTED:
            result_charts.append(
                (title, charts.kaplan_meier_panels(title, panels, risk_days=RISK_DAYS, suppress=suppress))
            )
    return FractureOutcomes(tables=tables, charts=result_charts, pngs=pngs, adjudication=adjudication_text(adjudicated))


def adjudication_text(counts: dict) -> str:
    done_f, all_f = counts["fractures"]
    done_c, all_c = counts["complications"]
    return (
        f"Adjudicated by an investigator: {done_f} of {all_f} new fractures and {done_c} of {all_c} "
        "complications; the rest are as entered by the site."
    )


CACHE_SECONDS = 600


@dataclass
class SectionInputs:
    """What the section reads from the database: the survival subjects and the adjudication counts."""

    subjects: list
    adjudicated: dict


def section_inputs(*, procedure_q, site_ids, as_of: dt.date) -> SectionInputs:
    sites = list(site_ids) if site_ids is not None else None
    return SectionInputs(
        subjects=fracture_selectors.survival_subjects(procedure_q=procedure_q, as_of=as_of, site_ids=sites),
        adjudicated=fracture_selectors.adjudication_counts(site_ids=sites),
    )


def section_inputs_by_site(*, procedure_q, site_ids: list[int], as_of: dt.date) -> dict[int | None, SectionInputs]:
    """``section_inputs`` of the whole registry (key None) and of each of ``site_ids``, from one
    read of the survival cohort: a site's subjects are the registry's whose index procedure is
    the site's. A patient's procedures, fractures and re-treatments carry the patient's site
    (denormalised, and a patient's site never changes: ``registry.patients.services``), so this
    is the cohort ``section_inputs`` reads for the site alone (``tests/fractures``), in a
    seventh of the queries for a build of ten sites."""
    everyone = section_inputs(procedure_q=procedure_q, site_ids=None, as_of=as_of)
    by_site: dict[int | None, SectionInputs] = {None: everyone}
    for site_id in site_ids:
        by_site[site_id] = SectionInputs(
            subjects=[subject for subject in everyone.subjects if subject.site_id == site_id],
            adjudicated=fracture_selectors.adjudication_counts(site_ids=[site_id]),
        )
    return by_site


def build_section(inputs: SectionInputs, *, suppress: bool, with_png: bool = False) -> FractureOutcomes:
    return build(inputs.subjects, suppress=suppress, adjudicated=inputs.adjudicated, with_png=with_png)


def section_for(*, procedure_q, site_ids, as_of: dt.date, suppress: bool) -> FractureOutcomes:
    return build_section(section_inputs(procedure_q=procedure_q, site_ids=site_ids, as_of=as_of), suppress=suppress)


def _snapshot_key(cohort, as_of: dt.date, suppress: bool) -> str:
    return "reports:fracture-outcomes:snapshot:" + hashlib.sha256(repr((cohort, as_of, suppress)).encode()).hexdigest()


def dashboard_snapshots_store(views: list[tuple[object, bool]], *, as_of: dt.date, seconds: int) -> int:
    """Compute the section of each (cohort, suppress) in ``views`` and keep it for ``seconds``:
    beat does it for the views people open first, with the dashboard snapshots, so that the
    Kaplan–Meier curves (seconds at 100,000 patients) are not computed on their request."""
    stored = {
        _snapshot_key(cohort, as_of, suppress): section_for(
            procedure_q=cohort.procedure_q(), site_ids=cohort.site_ids, as_of=as_of, suppress=suppress
        )
        for cohort, suppress in views
    }
    cache.set_many(stored, seconds)
    return len(stored)


@dataclass
class CachedSection:
    content: FractureOutcomes
    # Computed soon after its marker was first seen (fracture_marker): served until then only.
    trusted_until: dt.datetime | None


def _marker_first_seen(marker: int, now: dt.datetime) -> dt.datetime:
    key = f"reports:fracture-outcomes:marker-seen:{marker}"
    if (seen := cache.get(key)) is None:
        cache.add(key, now, CACHE_SECONDS)
        seen = cache.get(key, now)
    return seen


def dashboard_section(*, cohort, as_of: dt.date, suppress: bool, now: dt.datetime | None = None) -> FractureOutcomes:
    marker = fracture_marker.read()
    now = now or timezone.now()  # after the read: a marker is never seen before it was
    key = "reports:fracture-outcomes:" + hashlib.sha256(repr((cohort, as_of, suppress, marker)).encode()).hexdigest()
    cached = cache.get(key)
    if cached is not None and (cached.trusted_until is None or now < cached.trusted_until):
        return cached.content
    # Data changed since the last computation of this view: a view beat keeps serves its snapshot
    # (at most one beat interval old) rather than computing the curves on the request.
    if (snapshot := cache.get(_snapshot_key(cohort, as_of, suppress))) is not None:
        return snapshot
    settle = dt.timedelta(seconds=fracture_marker.SETTLE_SECONDS)
    settled = now - _marker_first_seen(marker, now) >= settle
    content = section_for(procedure_q=cohort.procedure_q(), site_ids=cohort.site_ids, as_of=as_of, suppress=suppress)
    cache.set(key, CachedSection(content, None if settled else now + settle), CACHE_SECONDS)
    return content
