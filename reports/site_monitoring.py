"""Site monitoring: each site's outcomes in order, the Bernoulli CUSUM against the literature
benchmark, funnel plots around it, and one alert per signal (DATA_DICTIONARY.md §6).

Measures: cement leak per treated level, symptomatic complication per procedure, new adjacent
fracture per patient within 12 months of the index procedure (patients with 12 months behind
them only). In-control rate p0 = the benchmark; out-of-control p1 = ``MONITORING_CUSUM_MULTIPLE``
× p0; decision limit h = ``MONITORING_CUSUM_H``; reset after a signal (``reports.monitoring``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.core.mail import send_mass_mail
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils import timezone

from registry import access
from registry.fractures.models import FractureClass, FractureLevel
from registry.patients.models import Site
from registry.procedures.models import CementLeak, Complication, Procedure, TreatedLevel
from reports import benchmarks as bm
from reports import charts
from reports.models import MonitoredMeasure, MonitoringSignal
from reports.monitoring import CusumDesign, CusumResult, bernoulli_cusum, exact_binomial_limits, outside_funnel
from reports.stats import SMALL_CELL, suppress_count

FOLLOW_UP_DAYS = 365


@dataclass(frozen=True)
class MeasureSpec:
    measure: str
    benchmark_key: str | None
    source: str


SPECS = (
    MeasureSpec(
        MonitoredMeasure.LEAK_PER_LEVEL,
        "leak_rate_level_low_volume_pvp",
        "15 / 41 levels (36.6 %): Barriga-Martín et al. 2022, Table 3 (low-volume PVP, CT-checked).",
    ),
    MeasureSpec(
        MonitoredMeasure.SYMPTOMATIC_COMPLICATION,
        "symptomatic_complications",
        "43 / 2933 patients (1.5 %): Sørensen et al., The Spine Journal 2019, Table 1 (a per-patient "
        "figure, applied here per procedure).",
    ),
    MeasureSpec(
        MonitoredMeasure.ADJACENT_FRACTURE,
        None,
        "The sources give no rate (Gumusay et al. 2022 section 3 and Aydoğdu & Durak describe the risk "
        "only): the in-control rate is the registry's own pooled rate, so this CUSUM finds a site "
        "drifting from the others, not from the literature.",
    ),
)

METHODS = (
    "Bernoulli CUSUM per site and measure, observations in date order: S = max(0, S + ln(p1/p0)) "
    "after an event and S = max(0, S + ln((1−p1)/(1−p0))) otherwise; a signal when S reaches the "
    "decision limit h, then S restarts at 0. Funnel plots: each site's rate against its "
    "denominator, with exact binomial 95 % and 99.8 % limits around the benchmark rate."
)
LIMITS = (
    "Limits: a CUSUM signal is a prompt to look, not proof of harm. In a simulation (1,000 runs, "
    "h = 4.5, p1 = 2 × p0), a site whose leak rate equals the benchmark (36.6 % of levels) signalled "
    "falsely within 100 levels in 15 % of runs and within 300 in 41 %, while a doubled rate signalled "
    "within 100 levels in every run; for symptomatic complications (1.5 %) a doubling was caught "
    "within 300 procedures in only 18 % of runs. The benchmarks come from other case mixes, imaging "
    "and definitions than a site's (see the sources)."
)


@dataclass
class SiteSeries:
    site_id: int
    code: str
    observations: list[tuple[str, dt.date, bool]] = field(default_factory=list)
    cusum: CusumResult | None = None

    @property
    def n(self) -> int:
        return len(self.observations)

    @property
    def events(self) -> int:
        return sum(outcome for _, _, outcome in self.observations)


@dataclass
class MeasureResult:
    spec: MeasureSpec
    label: str
    p0: float | None
    design: CusumDesign | None
    sites: list[SiteSeries]


def _leaks(site_ids, as_of) -> list[tuple]:
    rows = (
        TreatedLevel.objects.filter(procedure__site_id__in=site_ids, procedure__performed_on__lte=as_of)
        .annotate(leaked=Exists(CementLeak.objects.filter(treated_level=OuterRef("pk"))))
        .order_by("procedure__performed_on", "procedure_id", "level")
        .values_list("procedure__site_id", "id", "procedure__performed_on", "leaked")
    )
    return [(site, f"level:{pk}", day, leaked) for site, pk, day, leaked in rows]


def _complications(site_ids, as_of) -> list[tuple]:
    symptomatic = Complication.objects.filter(procedure=OuterRef("pk"), symptomatic=True)
    rows = (
        Procedure.objects.filter(site_id__in=site_ids, performed_on__lte=as_of)
        .annotate(event=Exists(symptomatic))
        .order_by("performed_on", "id")
        .values_list("site_id", "id", "performed_on", "event")
    )
    return [(site, f"procedure:{pk}", day, event) for site, pk, day, event in rows]


def _adjacent_fractures(site_ids, as_of) -> list[tuple]:
    """Patients whose index procedure is 12 months or more before ``as_of``: adjacent fracture within 12 months?"""
    first: dict[int, tuple] = {}
    for patient_id, site_id, day in (
        Procedure.objects.filter(site_id__in=site_ids).order_by("patient_id", "performed_on", "id")
    ).values_list("patient_id", "site_id", "performed_on"):
        first.setdefault(patient_id, (site_id, day))
    adjacent: dict[int, dt.date] = {}
    for patient_id, day in (
        FractureLevel.objects.filter(classification=FractureClass.ADJACENT, fracture__site_id__in=site_ids)
        .order_by("fracture__diagnosed_on")
        .values_list("fracture__patient_id", "fracture__diagnosed_on")
    ):
        adjacent.setdefault(patient_id, day)
    rows = []
    for patient_id, (site_id, day) in first.items():
        window_end = day + dt.timedelta(days=FOLLOW_UP_DAYS)
        if window_end > as_of:
            continue
        fractured = patient_id in adjacent and adjacent[patient_id] <= window_end
        rows.append((window_end, site_id, f"patient:{patient_id}", fractured))
    rows.sort()
    return [(site, key, day, event) for day, site, key, event in rows]


LOADERS = {
    MonitoredMeasure.LEAK_PER_LEVEL: _leaks,
    MonitoredMeasure.SYMPTOMATIC_COMPLICATION: _complications,
    MonitoredMeasure.ADJACENT_FRACTURE: _adjacent_fractures,
}


def benchmark_rate(spec: MeasureSpec) -> float | None:
    if spec.benchmark_key is None:
        return None
    benchmark = bm.BENCHMARKS[spec.benchmark_key]
    return benchmark.count / benchmark.denominator


def analyse(*, sites: list[Site], as_of: dt.date, pooled_site_ids: list[int] | None = None) -> list[MeasureResult]:
    """Every measure for ``sites``; a measure without a benchmark takes the pooled rate of
    ``pooled_site_ids`` (default: every active site)."""
    site_ids = [site.id for site in sites]
    codes = {site.id: site.code for site in sites}
    pooled_ids = pooled_site_ids or list(Site.objects.filter(active=True).values_list("id", flat=True))
    results = []
    for spec in SPECS:
        load = LOADERS[spec.measure]
        series = {site_id: SiteSeries(site_id=site_id, code=codes[site_id]) for site_id in site_ids}
        for site_id, key, day, outcome in load(site_ids, as_of):
            series[site_id].observations.append((key, day, bool(outcome)))
        p0 = benchmark_rate(spec)
        if p0 is None:
            pooled = load(pooled_ids, as_of)
            events = sum(bool(row[3]) for row in pooled)
            p0 = events / len(pooled) if pooled and events else None
        design = None
        if p0 is not None and 0 < p0 < 1:
            design = CusumDesign.from_benchmark(
                p0, multiple=settings.MONITORING_CUSUM_MULTIPLE, h=settings.MONITORING_CUSUM_H
            )
            for item in series.values():
                item.cusum = bernoulli_cusum([outcome for _, _, outcome in item.observations], design)
        results.append(
            MeasureResult(
                spec=spec, label=MonitoredMeasure(spec.measure).label, p0=p0, design=design, sites=list(series.values())
            )
        )
    return results


# --- alerts ------------------------------------------------------------------------------------


def _recipients(site_id: int) -> list[str]:
    users = access.investigators_and_admins_of(site_id)
    return sorted(set(users.exclude(email="").values_list("email", flat=True)))


def signals_record(*, as_of: dt.date | None = None) -> list[int]:
    """Store every signal of every active site once; returns the ids of those not yet alerted."""
    as_of = as_of or timezone.localdate()
    sites = list(Site.objects.filter(active=True).order_by("id"))
    for result in analyse(sites=sites, as_of=as_of):
        for item in result.sites:
            if item.cusum is None:
                continue
            for position in item.cusum.signals:
                key, day, _ = item.observations[position]
                # get_or_create re-reads after a concurrent insert: the unique constraint keeps one row.
                MonitoringSignal.objects.get_or_create(
                    site_id=item.site_id,
                    measure=result.spec.measure,
                    observation=key,
                    defaults={"observed_on": day, "cusum": Decimal(str(round(item.cusum.values[position], 3)))},
                )
    return list(MonitoringSignal.objects.filter(notified_at__isnull=True).values_list("id", flat=True))


def signal_alert(*, signal_id: int) -> int:
    """Email the administrators and the site's investigators once; returns how many were sent.

    The row is claimed first, so a repeated or doubled task sends nothing; a failed send releases
    the claim for the retry. Aggregates only: no patient is named.
    """
    now = timezone.now()
    if MonitoringSignal.objects.filter(pk=signal_id, notified_at__isnull=True).update(notified_at=now) != 1:
        return 0
    signal = MonitoringSignal.objects.select_related("site").get(pk=signal_id)
    recipients = _recipients(signal.site_id)
    if not recipients:
        return 0
    label = signal.get_measure_display()
    subject = f"Registry monitoring: CUSUM signal at {signal.site.code} ({label.lower()})"
    link = settings.SITE_URL + reverse("reports:monitoring")
    body = (
        f"The CUSUM of site {signal.site.code} for '{label}' crossed its decision limit "
        f"(h = {settings.MONITORING_CUSUM_H}) with the observation of {signal.observed_on:%Y-%m-%d} "
        f"(CUSUM {signal.cusum}).\n\nA signal is a prompt to review the site's recent cases, not proof of "
        f"harm. Methods, limits and sources:\n{link}\n"
    )
    try:
        send_mass_mail([(subject, body, None, [address]) for address in recipients])
    except Exception:
        MonitoringSignal.objects.filter(pk=signal_id, notified_at=now).update(notified_at=None)
        raise
    return len(recipients)


# --- the page ----------------------------------------------------------------------------------


@dataclass
class MonitoringContent:
    measures: list[dict]
    methods: str = METHODS
    limits: str = LIMITS
    h: float = 0.0
    multiple: float = 0.0


def _disclosive(events: int, n: int) -> bool:
    return any(0 < count < SMALL_CELL for count in (events, n, n - events))


def page_content(*, sites: list[Site], as_of: dt.date, suppress: bool) -> MonitoringContent:
    """The page's figures; with ``suppress`` (reviewers) counts of 1–4 show as <5 and the rates
    that would reveal them are withheld, as on the dashboard."""
    measures = []
    signals = {}
    for signal in MonitoringSignal.objects.filter(site__in=sites).order_by("observed_on"):
        signals.setdefault((signal.site_id, signal.measure), []).append(signal)
    for result in analyse(sites=sites, as_of=as_of):
        rows = []
        for item in result.sites:
            stored = signals.get((item.site_id, result.spec.measure), [])
            rows.append(
                {
                    "code": item.code,
                    "n": suppress_count(item.n) if suppress else item.n,
                    "events": suppress_count(item.events) if suppress else item.events,
                    "rate": f"{item.events / item.n * 100:.1f} %"
                    if item.n and not (suppress and _disclosive(item.events, item.n))
                    else "—",
                    "cusum": f"{item.cusum.current:.2f}" if item.cusum else "—",
                    "signals": len(item.cusum.signals) if item.cusum else 0,
                    "last_signal": stored[-1].observed_on if stored else None,
                    "outside_95": result.p0 is not None and outside_funnel(item.events, item.n, result.p0, 0.95),
                    "outside_998": result.p0 is not None and outside_funnel(item.events, item.n, result.p0, 0.998),
                }
            )
        funnel = traces = ""
        if result.p0 is not None:
            funnel = charts.benchmark_funnel(
                f"Funnel plot: {result.label.lower()}",
                [(item.code, item.events, item.n) for item in result.sites],
                p0=result.p0,
                limits=exact_binomial_limits,
            )
        if result.design is not None:
            traces = charts.cusum_traces(
                f"CUSUM: {result.label.lower()}",
                [(item.code, list(item.cusum.values)) for item in result.sites if item.cusum],
                limit=result.design.h,
            )
        measures.append(
            {
                "key": result.spec.measure,
                "label": result.label,
                "p0": f"{result.p0 * 100:.1f} %" if result.p0 is not None else "not yet estimable",
                "p1": f"{result.design.p1 * 100:.1f} %" if result.design else "—",
                "source": result.spec.source,
                "rows": rows,
                "funnel": funnel,
                "cusum": traces,
            }
        )
    return MonitoringContent(
        measures=measures, h=settings.MONITORING_CUSUM_H, multiple=settings.MONITORING_CUSUM_MULTIPLE
    )
