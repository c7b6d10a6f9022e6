"""Writes and builds of the reports app: the dashboard's content, quarterly reports, notices.

Quarterly reports are immutable, versioned artifacts. The beat task asks for version 1 of
every (site, quarter) and of the whole registry; whatever the number of runs or workers,
one version exists: the insert happens under a per-(scope, quarter) advisory lock after a
re-check, and two partial unique constraints back it up. An administrator's rebuild adds
the next version under the same lock and leaves the old ones as they were.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import logging
import os
import pickle
import select
import signal
import time
import traceback
import zlib
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mass_mail
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import Max, Q
from django.urls import reverse
from django.utils import timezone

from registry import access
from registry.core.audit import system_user
from registry.core.memory import collector_paused
from registry.db_router import reading_replica
from registry.patients.models import Site
from registry.rollups.selectors import outcomes_from_rollups
from reports import benchmarks as bm
from reports import charts, fracture_outcomes
from reports.disclosure import contained_counts, guard_differences
from reports.loaders import CohortFilter, load_frames
from reports.metrics import Frames, compute_all, site_leak_rates
from reports.models import QuarterlyReport
from reports.render import ReportDocument, render_html, render_pdf, render_xlsx
from reports.tables import Section, Table, build_tables

logger = logging.getLogger(__name__)


# --- quarters ------------------------------------------------------------------------------


def quarter_bounds(year: int, quarter: int) -> tuple[dt.date, dt.date]:
    if quarter not in (1, 2, 3, 4):
        raise ValueError(f"quarter must be 1-4, got {quarter}")
    start = dt.date(year, 3 * quarter - 2, 1)
    end = dt.date(year + 1, 1, 1) if quarter == 4 else dt.date(year, 3 * quarter + 1, 1)
    return start, end - dt.timedelta(days=1)


def previous_quarter(today: dt.date) -> tuple[int, int]:
    quarter = (today.month - 1) // 3 + 1
    return (today.year - 1, 4) if quarter == 1 else (today.year, quarter - 1)


# --- content -------------------------------------------------------------------------------


@dataclass
class DashboardContent:
    tables: list[Table]
    charts: list[tuple[str, str]]
    suppressed: bool
    patients: int
    computed_at: dt.datetime


def _charts(frames: Frames, metrics, *, suppress: bool, funnel: bool, levels: bool = True) -> list[tuple[str, str]]:
    result = [
        ("VAS trajectory", charts.trajectory("vas", metrics.outcomes, suppress=suppress)),
        ("ODI trajectory", charts.trajectory("odi", metrics.outcomes, suppress=suppress)),
        ("Leak rate by procedure type", charts.leak_rate_by_type(metrics.leaks["per_patient"], suppress=suppress)),
    ]
    if levels:
        result.append(("PVP level distribution", charts.level_distribution(metrics.activity, suppress=suppress)))
    if funnel:
        result.append(("Funnel plot of sites' leak rates", charts.funnel(site_leak_rates(frames))))
    return result


def dashboard_must_suppress(user, site_ids: tuple[int, ...] | None) -> bool:
    """Small cells are hidden unless the user may see identified data of every site shown."""
    identified = access.identified_site_ids(user)
    if identified is None:
        return False
    return site_ids is None or not set(site_ids) <= set(identified)


# Aggregates of a whole registry take seconds to compute (BENCHMARKS.md, "Reports") and change
# slowly: the same dashboard is served from the cache for a few minutes, with the time it was
# computed shown on the page. Beat refreshes the views people open first (each site, the whole
# registry) before they expire, from one load of the data (``dashboard_snapshots_refresh``);
# other filters are computed on demand and then cached.
DASHBOARD_CACHE_SECONDS = 300
DASHBOARD_SNAPSHOT_SECONDS = 600


def dashboard_cache_key(cohort: CohortFilter, as_of: dt.date, *, suppress: bool, funnel: bool) -> str:
    return "reports:dashboard:" + hashlib.sha256(repr((cohort, as_of, suppress, funnel)).encode()).hexdigest()


def _dashboard_build(frames: Frames, *, cohort: CohortFilter, suppress: bool, funnel: bool) -> DashboardContent:
    """``frames``: ``cohort`` as loaded (or sliced from the registry's frames) as of ``frames.as_of``."""
    metrics = compute_all(frames, outcome_figures=outcomes_from_rollups(cohort, as_of=frames.as_of))
    return DashboardContent(
        tables=build_tables(metrics, suppress=suppress),
        charts=_charts(frames, metrics, suppress=suppress, funnel=funnel),
        suppressed=suppress,
        patients=metrics.activity["patients"],
        computed_at=timezone.now(),
    )


def dashboard_content(*, user, cohort: CohortFilter, as_of: dt.date, use_cache: bool = True) -> DashboardContent:
    """The dashboard for ``cohort``; the caller has limited ``cohort.site_ids`` to the user's sites."""
    suppress = dashboard_must_suppress(user, cohort.site_ids)
    funnel = access.is_registry_admin(user)
    key = dashboard_cache_key(cohort, as_of, suppress=suppress, funnel=funnel)
    if use_cache and (cached := cache.get(key)) is not None:
        return cached
    frames = load_frames(cohort, as_of=as_of, since=as_of)
    content = _dashboard_build(frames, cohort=cohort, suppress=suppress, funnel=funnel)
    cache.set(key, content, DASHBOARD_CACHE_SECONDS)
    return content


def dashboard_snapshots_refresh(*, as_of: dt.date | None = None) -> int:
    """Put the dashboard each user opens first in the cache, with its new-fracture section
    (Kaplan–Meier, ``fracture_outcomes.dashboard_snapshots_store``): the whole registry as
    administrators see it, each active site as its coordinators see it (all time, as known today),
    and each site as its reviewers see it (``reviewer_default_view``: the last completed quarter,
    as known at its end, small cells hidden).

    Two loads of the whole registry serve them all (today's, and as known at the end of the last
    quarter): a site's figures are its slice of the registry's frames, as in the quarterly reports.
    Returns how many dashboards were stored. Needs a cache shared by web and worker (``CACHE_URL``).
    """
    as_of = as_of or timezone.localdate()
    frames = load_frames(CohortFilter(), as_of=as_of, since=as_of)
    stored = {
        dashboard_cache_key(CohortFilter(), as_of, suppress=False, funnel=True): _dashboard_build(
            frames, cohort=CohortFilter(), suppress=False, funnel=True
        )
    }
    site_ids = list(Site.objects.filter(active=True).order_by("id").values_list("id", flat=True))
    for site_id in site_ids:
        cohort = CohortFilter(site_ids=(site_id,))
        key = dashboard_cache_key(cohort, as_of, suppress=False, funnel=False)
        stored[key] = _dashboard_build(frames.for_sites([site_id]), cohort=cohort, suppress=False, funnel=False)
    reviewer_views = [reviewer_default_view(site_id, today=as_of) for site_id in site_ids]
    if reviewer_views:
        known_then = reviewer_views[0][1]
        quarter_frames = load_frames(CohortFilter(), as_of=known_then, since=known_then)
        for cohort, _ in reviewer_views:
            sliced = quarter_frames.for_sites(list(cohort.site_ids)).performed_between(
                cohort.performed_from, cohort.performed_to
            )
            key = dashboard_cache_key(cohort, known_then, suppress=True, funnel=False)
            stored[key] = _dashboard_build(sliced, cohort=cohort, suppress=True, funnel=False)
    cache.set_many(stored, DASHBOARD_SNAPSHOT_SECONDS)
    fracture_outcomes.dashboard_snapshots_store(
        [(CohortFilter(), False)] + [(CohortFilter(site_ids=(site_id,)), False) for site_id in site_ids],
        as_of=as_of,
        seconds=DASHBOARD_SNAPSHOT_SECONDS,
    )
    if reviewer_views:
        fracture_outcomes.dashboard_snapshots_store(
            [(cohort, True) for cohort, _ in reviewer_views], as_of=known_then, seconds=DASHBOARD_SNAPSHOT_SECONDS
        )
    return len(stored)


def reviewer_default_view(site_id: int, *, today: dt.date) -> tuple[CohortFilter, dt.date]:
    """What a reviewer of one site sees on opening the dashboard: the last completed quarter,
    as known at its end (``reports.forms``), and that day."""
    start, end = quarter_bounds(*previous_quarter(today))
    return CohortFilter(site_ids=(site_id,), performed_from=start, performed_to=end), end


@dataclass
class QuarterlyInputs:
    """What one report needs from the database beside the frames, read in the build's own process
    (``quarterly_inputs``) so that the document can be composed in another (``quarterly_artifacts``)."""

    site: Site | None
    year: int
    quarter: int
    version: int
    built_at: dt.datetime
    # Outcome figures from the rollups by the first day performed (the quarter's, None for the
    # cumulative cohort); None where the frames' own figures serve (not as of the quarter's end).
    outcomes: dict[dt.date | None, dict | None]
    fractures: fracture_outcomes.SectionInputs


def quarterly_inputs(
    frames: Frames,
    *,
    site: Site | None,
    year: int,
    quarter: int,
    version: int,
    built_at: dt.datetime,
    fractures: fracture_outcomes.SectionInputs | None = None,
) -> QuarterlyInputs:
    """``fractures``: the new-fracture section's inputs when already read (a build reads every
    site's at once, ``fracture_outcomes.section_inputs_by_site``)."""
    start, end = quarter_bounds(year, quarter)
    site_ids = None if site is None else (site.id,)
    outcomes = {}
    for performed_from in (start, None):
        # Frames loaded as of the quarter's end take the outcome figures from the rollups; answers
        # as known on another day than the rollups would sum take the frames' own.
        cohort = CohortFilter(site_ids=site_ids, performed_from=performed_from, performed_to=end)
        outcomes[performed_from] = outcomes_from_rollups(cohort, as_of=end) if frames.as_of == end else None
    if fractures is None:
        with reading_replica():
            fractures = fracture_outcomes.section_inputs(
                procedure_q=Q(performed_on__lte=end), site_ids=None if site is None else [site.id], as_of=end
            )
    return QuarterlyInputs(
        site=site,
        year=year,
        quarter=quarter,
        version=version,
        built_at=built_at,
        outcomes=outcomes,
        fractures=fractures,
    )


def quarterly_document(frames: Frames, inputs: QuarterlyInputs) -> ReportDocument:
    """The report of one site (or the registry) from the registry's (or the site's) cumulative
    frames and what ``quarterly_inputs`` read; no database access (it may run in a child process)."""
    site, year, quarter = inputs.site, inputs.year, inputs.quarter
    start, end = quarter_bounds(year, quarter)
    cumulative = frames.up_to(end).for_sites(None if site is None else [site.id])
    this_quarter = cumulative.performed_between(start, end)
    quarter_metrics = compute_all(this_quarter, outcome_figures=inputs.outcomes[start])
    # Nothing a reviewer could subtract: the cumulative figures that differ by 1-4 from a quarter's
    # or from the previous quarter's cumulative ones are withheld (reports.disclosure). The whole
    # registry's report is read by administrators only (reports.selectors), who see every figure.
    cumulative_metrics = compute_all(cumulative, outcome_figures=inputs.outcomes[None])
    if site is not None:
        # The guard reads only counts, denominators and n of the releases it compares with.
        contained = [quarter_metrics, *contained_counts(cumulative, start=start)]
        cumulative_metrics = guard_differences(cumulative_metrics, contained=contained)
    scope = f"{site.code} — {site.name}" if site else "Whole registry"
    fractures = fracture_outcomes.build_section(inputs.fractures, suppress=True, with_png=True)
    cumulative_tables = build_tables(cumulative_metrics, suppress=True)
    with charts.with_png():  # the PDF embeds the same charts as images
        report_charts = _charts(cumulative, cumulative_metrics, suppress=True, funnel=site is None, levels=True)
    return ReportDocument(
        title=f"Quarterly report {year} Q{quarter}: {scope}",
        subtitle=f"Procedures performed {start:%d %b %Y} – {end:%d %b %Y}, and the cumulative cohort to {end:%d %b %Y}.",
        facts=[
            ("Scope", scope),
            ("Quarter", f"{year} Q{quarter} ({start.isoformat()} to {end.isoformat()})"),
            ("Version", str(inputs.version)),
            ("Built", timezone.localtime(inputs.built_at).strftime("%Y-%m-%d %H:%M %Z")),
            (
                "Small cells",
                "Counts of 1–4 are shown as <5 and their rates and intervals withheld; where the hidden "
                "count could be worked out from a total, another cell reads 'withheld' too. A cumulative "
                "figure that differs by 1–4 from this quarter's or from the previous quarter's cumulative "
                "figure is withheld as well, so that no small cell can be worked out by subtracting "
                "one report from another.",
            ),
            (
                "Benchmarks",
                "Literature figures: " + "; ".join(bm.CITATIONS.values()) + " (table or section beside each figure).",
            ),
            ("Adjudication", fractures.adjudication),
        ],
        sections=[
            Section(f"This quarter ({year} Q{quarter})", build_tables(quarter_metrics, suppress=True)),
            Section(f"Cumulative (to {end.isoformat()})", cumulative_tables),
            Section(f"New fractures and re-treatment (to {end.isoformat()})", fractures.tables),
        ],
        charts=report_charts + fractures.charts,
        images=fractures.pngs,
        summary=report_summary(cumulative_tables),
    )


SUMMARY_ROWS = (
    # (label, table, row, column): the five figures a department head reads first.
    ("Procedures (patients)", "activity", "Procedures", "Value"),
    ("Patients with a cement leak", "leaks", "Patients with a leak — All", "Value"),
    ("Patients with a symptomatic complication", "complications", "Patients with a symptomatic complication", "Value"),
    ("VAS change at 3 months (follow-up minus baseline)", "vas_by_type", ("All", "3 months"), "Change from baseline"),
    ("ODI change at 3 months (follow-up minus baseline)", "odi_by_type", ("All", "3 months"), "Change from baseline"),
    ("Follow-up response at 3 months", "follow_up", "3 months", "Response rate"),
)


def report_summary(tables: list[Table]) -> list[tuple[str, str]]:
    """The cumulative figures for the report's first page, as printed in its tables."""
    by_key = {table.key: table for table in tables}
    summary = []
    for label, key, row, column in SUMMARY_ROWS:
        table = by_key[key]
        try:
            if isinstance(row, tuple):
                value = table.find(Group=row[0], Event=row[1])[column]
            else:
                value = table.cell(row, column)
        except KeyError:
            value = "— (none yet)"
        if key == "activity":
            value = f"{value} ({table.cell('Patients', 'Value')})"
        summary.append((label, value))
    return summary


# --- building and storing ------------------------------------------------------------------


def _lock(site_id: int | None, year: int, quarter: int) -> None:
    """Serialise writers of one (scope, quarter) until the transaction ends."""
    if connection.vendor != "postgresql":
        return  # SQLite runs IMMEDIATE transactions (settings.py): writers are serialised already.
    key = zlib.crc32(f"reports.quarterly:{site_id or 0}:{year}:{quarter}".encode()) - 2**31
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


@dataclass
class Artifacts:
    html: str
    pdf: bytes
    xlsx: bytes


def quarterly_artifacts(frames: Frames, inputs: QuarterlyInputs) -> Artifacts:
    """The report's HTML, PDF and XLSX: CPU work only (no database), so it may run in a child."""
    document = quarterly_document(frames, inputs)
    return Artifacts(html=render_html(document), pdf=render_pdf(document), xlsx=render_xlsx(document))


# A build composes its reports in this many processes (settings.REPORT_BUILD_PROCESSES), its own
# included: the documents are independent CPU work (statistics, charts, PDF, XLSX) over one load of
# the frames. The others are forked after the load and the database reads, so they share the frames
# without copying them and never touch the database; each returns its artifacts through a pipe and
# the build stores them. A plain fork, not a pool: a Celery worker's process may not start
# multiprocessing children, and a pool's helper threads are more than a dozen documents need.


def _no_database(execute, sql, params, many, context):
    raise RuntimeError("A quarterly build's composing process must not use the database.")


def _composed(frames: Frames, inputs: list[QuarterlyInputs], first: int, claims: int) -> list[tuple[int, Artifacts]]:
    """Report ``first``, then each report claimed from the ``claims`` pipe until it is empty."""
    done = []
    index = first
    while index is not None:
        done.append((index, quarterly_artifacts(frames, inputs[index])))
        # A read of one number from a pipe is atomic: each number goes to exactly one process.
        token = os.read(claims, CLAIM_BYTES)
        index = int.from_bytes(token, "big") if token else None
    return done


def _composed_in_child(frames: Frames, inputs: list[QuarterlyInputs], first: int, claims: int, write: int) -> None:
    """The body of a forked child: never returns."""
    status = 1
    try:
        # The parent's database sockets stay the parent's: never written from here (the protocol
        # would interleave), and a query fails loudly rather than reading other data.
        for alias in connections:
            connections[alias].connection = None
            connections[alias].execute_wrappers.append(_no_database)
        try:
            payload = pickle.dumps((True, _composed(frames, inputs, first, claims)))
            status = 0
        except BaseException:  # noqa: BLE001 - reported to the parent, which raises it
            payload = pickle.dumps((False, traceback.format_exc()))
        with os.fdopen(write, "wb") as pipe:
            pipe.write(payload)
    finally:
        os._exit(status)  # no atexit, no finalisers: the parent's connections and files stay open


def _read_until(read: int, deadline: float) -> bytes | None:
    """Everything the child writes to ``read`` until it closes it; None if it is still open at
    ``deadline`` (a child stuck for good must not hold the build, and the worker, forever)."""
    chunks = []
    with os.fdopen(read, "rb", buffering=0) as pipe:
        while True:
            ready, _, _ = select.select([pipe], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                return None
            chunk = pipe.read(1 << 20)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


CLAIM_BYTES = 4


def artifacts_for_all(frames: Frames, inputs: list[QuarterlyInputs], *, processes: int) -> list[Artifacts]:
    """``quarterly_artifacts`` of each of ``inputs``, in order, composed by ``processes`` processes.

    Process k composes report k first (the caller puts the largest first), then each process
    claims the next report not yet taken, so that they finish together however unequal the
    reports are (the whole registry's, or a large site's, against a small site's)."""
    processes = max(1, min(processes, len(inputs)))
    claims, unclaimed = os.pipe()
    # Every number is in the pipe before any process reads it, and the pipe's writing end is
    # closed: a process that finds it empty is done.
    os.write(unclaimed, b"".join(index.to_bytes(CLAIM_BYTES, "big") for index in range(processes, len(inputs))))
    os.close(unclaimed)
    children = []
    try:
        for first in range(1, processes):
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read)
                _composed_in_child(frames, inputs, first, claims, write)
            os.close(write)
            children.append((pid, read))
        results: list[Artifacts | None] = [None] * len(inputs)
        failures = []
        try:
            for index, artifacts in _composed(frames, inputs, 0, claims):
                results[index] = artifacts
        finally:
            # Every child is read to the end and reaped, whatever happened here.
            deadline = time.monotonic() + settings.REPORT_BUILD_CHILD_SECONDS
            for pid, read in children:
                payload = _read_until(read, deadline)
                if payload is None:
                    os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                if not payload:
                    failures.append(
                        f"process {pid} did not finish within {settings.REPORT_BUILD_CHILD_SECONDS} s"
                        if payload is None
                        else f"process {pid} ended without a result"
                    )
                    continue
                done, value = pickle.loads(payload)  # noqa: S301 - our own child's bytes, through our own pipe
                if not done:
                    failures.append(value)
                    continue
                for index, artifacts in value:
                    results[index] = artifacts
    finally:
        os.close(claims)
    if failures:
        raise RuntimeError("A quarterly report's composing process failed:\n" + "\n".join(failures))
    missing = [index for index, artifacts in enumerate(results) if artifacts is None]
    if missing:
        raise RuntimeError(f"A quarterly build composed no report for inputs {missing}")
    return results


def _store(
    artifacts: Artifacts, *, site: Site | None, year: int, quarter: int, version: int, built_at, built_by
) -> QuarterlyReport:
    start, end = quarter_bounds(year, quarter)
    report = QuarterlyReport.objects.create(
        site=site,
        year=year,
        quarter=quarter,
        version=version,
        period_start=start,
        period_end=end,
        built_at=built_at,
        built_by=built_by,
        html=artifacts.html,
        pdf=artifacts.pdf,
        xlsx=artifacts.xlsx,
    )
    transaction.on_commit(lambda: _queue_notice(report.id))
    return report


def _queue_notice(report_id: int) -> None:
    from reports.tasks import quarterly_report_notify_task

    quarterly_report_notify_task.delay(report_id)


def _reports_of(site: Site | None, year: int, quarter: int):
    return QuarterlyReport.objects.filter(site=site, year=year, quarter=quarter)


def quarterly_reports_build(*, year: int, quarter: int, today: dt.date | None = None) -> list[QuarterlyReport]:
    """Version 1 of the quarter's report for every active site and the registry, where missing.

    Safe to run any number of times, at once or in turn: a scope that already has a report is
    skipped, and the insert re-checks under the scope's lock.
    """
    start, end = quarter_bounds(year, quarter)
    if today is not None and end >= today:
        raise ValueError(f"{year} Q{quarter} has not ended yet")
    existing = set(QuarterlyReport.objects.filter(year=year, quarter=quarter).values_list("site_id", flat=True))
    targets: list[Site | None] = [site for site in Site.objects.filter(active=True) if site.id not in existing]
    if None not in existing:
        targets.append(None)
    if not targets:
        return []
    with collector_paused():
        # The disclosure guard takes the frames back to the previous quarter's end (contained_counts).
        frames = load_frames(CohortFilter(performed_to=end), as_of=end, since=start - dt.timedelta(days=1))
    built_at = timezone.now()
    # The largest reports first (the registry's, then the sites' by their procedures), so that the
    # processes composing them finish together (artifacts_for_all).
    procedures = frames.procedures["site_id"].value_counts()
    with reading_replica():
        sections = fracture_outcomes.section_inputs_by_site(
            procedure_q=Q(performed_on__lte=end), site_ids=[site.id for site in targets if site], as_of=end
        )
    inputs = [
        quarterly_inputs(
            frames,
            site=site,
            year=year,
            quarter=quarter,
            version=1,
            built_at=built_at,
            fractures=sections[site.id if site else None],
        )
        for site in sorted(targets, key=lambda site: (site is not None, -procedures.get(site.id, 0) if site else 0))
    ]
    # The frames and inputs live until the build ends: the collector need not walk them again at
    # each of its passes while the reports are composed (gc.freeze, as before a fork in servers).
    gc.freeze()
    try:
        artifacts = artifacts_for_all(frames, inputs, processes=settings.REPORT_BUILD_PROCESSES)
    finally:
        gc.unfreeze()
    builder = system_user()
    built = []
    for item, made in zip(inputs, artifacts, strict=True):
        site = item.site
        try:
            with transaction.atomic():
                _lock(site.id if site else None, year, quarter)
                if _reports_of(site, year, quarter).exists():
                    continue  # Another run got there first.
                built.append(
                    _store(made, site=site, year=year, quarter=quarter, version=1, built_at=built_at, built_by=builder)
                )
        except IntegrityError:
            # The constraint caught a writer that did not take the lock: the report exists.
            logger.info("Quarterly report %s Q%s for site %s already built", year, quarter, site.id if site else "-")
    return built


def quarterly_report_rebuild(*, site: Site | None, year: int, quarter: int, acting_user) -> QuarterlyReport:
    """A new version of one report, built by an administrator; earlier versions stay."""
    if not access.is_registry_admin(acting_user):
        raise PermissionError("Only registry administrators rebuild quarterly reports.")
    start, end = quarter_bounds(year, quarter)
    frames = load_frames(
        CohortFilter(performed_to=end, site_ids=None if site is None else (site.id,)),
        as_of=end,
        since=start - dt.timedelta(days=1),
    )
    with transaction.atomic():
        _lock(site.id if site else None, year, quarter)
        version = (_reports_of(site, year, quarter).aggregate(v=Max("version"))["v"] or 0) + 1
        built_at = timezone.now()
        inputs = quarterly_inputs(frames, site=site, year=year, quarter=quarter, version=version, built_at=built_at)
        return _store(
            quarterly_artifacts(frames, inputs),
            site=site,
            year=year,
            quarter=quarter,
            version=version,
            built_at=built_at,
            built_by=acting_user,
        )


# --- notices -------------------------------------------------------------------------------


def report_recipients(report: QuarterlyReport) -> list[str]:
    """The site's department reviewers; administrators for the whole-registry report."""
    users = access.registry_admins() if report.site_id is None else access.reviewers_of(report.site_id)
    return sorted(set(users.exclude(email="").values_list("email", flat=True)))


def quarterly_report_notify(*, report_id: int) -> int:
    """Email the report's link once; returns the number of recipients (0 if already done).

    The row is claimed before sending, so a retried or doubled task sends once; if the
    send fails the claim is released for the retry.
    """
    now = timezone.now()
    claimed = QuarterlyReport.objects.filter(pk=report_id, notified_at__isnull=True).update(notified_at=now)
    if claimed != 1:
        return 0
    report = (
        QuarterlyReport.objects.select_related("site")
        .only("id", "site__code", "year", "quarter", "version")
        .get(pk=report_id)
    )
    recipients = report_recipients(report)
    if not recipients:
        return 0
    link = settings.SITE_URL + reverse("reports:quarterly_detail", args=[report.id])
    scope = report.site.code if report.site_id else "whole registry"
    # Aggregates only: the site code, the quarter and a link that needs a login.
    subject = f"Quarterly report {report.year} Q{report.quarter} ready ({scope})"
    body = (
        f"The registry's quarterly report for {scope}, {report.year} Q{report.quarter} "
        f"(version {report.version}), is ready.\n\nOpen it after logging in:\n{link}\n"
    )
    try:
        # One message per reviewer: they need not learn each other's addresses.
        send_mass_mail([(subject, body, None, [address]) for address in recipients])
    except Exception:
        QuarterlyReport.objects.filter(pk=report_id, notified_at=now).update(notified_at=None)
        raise
    return len(recipients)
