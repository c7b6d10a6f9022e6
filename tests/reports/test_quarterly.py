"""Quarterly reports: one version per site and quarter, administrators' rebuilds, immutability,
the files themselves (PDF read with pypdf, XLSX with openpyxl) and the reviewers' email."""

from __future__ import annotations

import datetime as dt
import io
from unittest import mock

import pytest
from django.conf import settings
from django.core import mail
from django.db import DatabaseError, IntegrityError, OperationalError, connection, transaction
from django.urls import reverse
from openpyxl import load_workbook
from pypdf import PdfReader

from registry.schedule import CELERY_BEAT_SCHEDULE
from reports import services
from reports.models import QuarterlyReport
from reports.tasks import quarterly_reports_build_task
from tests.factories import Role, UserFactory, member
from tests.reports import hand
from tests.reports.cohort import build_cohort
from tests.utils import wait_for

TODAY = dt.date(2026, 4, 1)


@pytest.fixture
def cohort(site_a, site_b):
    return build_cohort(site_a, site_b)


def test_building_a_quarter_twice_leaves_one_version_per_site_and_for_the_registry(cohort, site_a, site_b):
    first = services.quarterly_reports_build(year=2026, quarter=1, today=TODAY)
    second = services.quarterly_reports_build(year=2026, quarter=1, today=TODAY)

    assert {report.site_id for report in first} == {site_a.id, site_b.id, None}
    assert second == []
    reports = QuarterlyReport.objects.filter(year=2026, quarter=1)
    assert sorted((r.site_id or 0, r.version) for r in reports) == sorted([(site_a.id, 1), (site_b.id, 1), (0, 1)])


def test_the_database_refuses_a_second_copy_of_a_version(cohort, site_a, admin_user):
    services.quarterly_reports_build(year=2026, quarter=1, today=TODAY)
    existing = QuarterlyReport.objects.get(site=site_a, year=2026, quarter=1)

    for site in (site_a, None):
        with pytest.raises(IntegrityError), transaction.atomic():
            QuarterlyReport.objects.create(
                site=site, year=2026, quarter=1, version=1, period_start=existing.period_start,
                period_end=existing.period_end, built_at=existing.built_at, built_by=admin_user,
                html="", pdf=b"", xlsx=b"",
            )  # fmt: skip


def test_an_unfinished_quarter_is_not_built(cohort):
    with pytest.raises(ValueError, match="not ended"):
        services.quarterly_reports_build(year=2026, quarter=2, today=TODAY)


def test_administrator_rebuild_adds_a_version_and_keeps_the_old_one(cohort, site_a, admin_user):
    services.quarterly_reports_build(year=2026, quarter=1, today=TODAY)
    original = QuarterlyReport.objects.get(site=site_a, year=2026, quarter=1, version=1)

    rebuilt = services.quarterly_report_rebuild(site=site_a, year=2026, quarter=1, acting_user=admin_user)

    assert rebuilt.version == 2 and rebuilt.built_by == admin_user
    kept = QuarterlyReport.objects.get(pk=original.pk)
    assert (kept.version, bytes(kept.pdf), kept.html) == (1, bytes(original.pdf), original.html)
    assert QuarterlyReport.objects.filter(site=site_a, year=2026, quarter=1).count() == 2


def test_only_administrators_rebuild(cohort, site_a, reviewer_a, client_for, admin_user):
    with pytest.raises(PermissionError):
        services.quarterly_report_rebuild(site=site_a, year=2026, quarter=1, acting_user=reviewer_a)

    url = reverse("reports:quarterly_rebuild")
    data = {"site": site_a.id, "year": 2026, "quarter": 1}
    assert client_for(reviewer_a).post(url, data).status_code == 404
    response = client_for(admin_user).post(url, data)
    assert response.status_code == 302
    assert QuarterlyReport.objects.get(site=site_a, year=2026, quarter=1).version == 1


def test_a_built_report_cannot_be_changed_or_deleted(cohort, site_a):
    services.quarterly_reports_build(year=2026, quarter=1, today=TODAY)
    report = QuarterlyReport.objects.get(site=site_a, year=2026, quarter=1)

    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        QuarterlyReport.objects.filter(pk=report.pk).update(html="<p>edited</p>")
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        QuarterlyReport.objects.filter(pk=report.pk).delete()


def test_pdf_and_xlsx_hold_the_report_tables(cohort, site_a):
    services.quarterly_reports_build(year=2026, quarter=1, today=TODAY)
    report = QuarterlyReport.objects.get(site=site_a, year=2026, quarter=1)
    # Cumulatively 5 of 13 levels leaked at site A, but 4 of 11 this quarter: the difference is
    # A7's (treated alone in 2025 Q4), so the cumulative figure is withheld (reports.disclosure).
    leak_rate = "withheld"
    posterior = hand.share(0, 11)  # this quarter: no posterior leak, a figure shown in full

    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(bytes(report.pdf))).pages)
    flat = " ".join(text.split())
    for title in ("Cement leaks", "Complications", "VAS (0–10) by procedure type", "Follow-up", "Data completeness"):
        assert title in flat
    assert "Quarterly report 2026 Q1: TOL" in flat
    assert leak_rate in flat and posterior in flat
    assert "<5 / 11 (—)" in flat

    workbook = load_workbook(io.BytesIO(bytes(report.xlsx)))
    assert {"Report", "T leaks", "C leaks", "C vas_by_type", "C follow_up"} <= set(workbook.sheetnames)
    sheet = workbook["C leaks"]
    assert [cell.value for cell in sheet[2]] == ["Measure", "Value", "Benchmark", "Source"]
    rows = {row[0].value: row[1].value for row in sheet.iter_rows(min_row=3) if row[0].value}
    assert rows["Levels with a leak — All"] == leak_rate
    assert workbook["T leaks"]["B3"].value == "<5 / 11 (—)"
    assert posterior in [row[1].value for row in workbook["T leaks"].iter_rows(min_row=3)]

    # The stored report draws each chart once, as an image both the HTML and the PDF embed.
    assert posterior in report.html and '<img class="chart" alt=' in report.html
    assert 'src="data:image/png;base64,' in report.html
    assert "http://" not in report.html.split("<svg", 1)[0]  # no external asset


def test_reports_carry_no_patient_identifiers(cohort, site_a):
    services.quarterly_reports_build(year=2026, quarter=1, today=TODAY)
    report = QuarterlyReport.objects.get(site=site_a, year=2026, quarter=1)
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(bytes(report.pdf))).pages)
    for procedure in cohort.values():
        patient = procedure.patient
        for identifier in (patient.study_id, patient.mrn, patient.family_name, patient.email):
            assert identifier not in report.html
            assert identifier not in text


def test_site_reviewers_are_emailed_a_link_without_phi_after_commit(
    cohort, site_a, reviewer_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.quarterly_reports_build(year=2026, quarter=1, today=TODAY)
    report = QuarterlyReport.objects.get(site=site_a, year=2026, quarter=1)
    assert len(callbacks) == 3  # one notice per report, queued only once the insert committed

    sent = services.quarterly_report_notify(report_id=report.id)
    again = services.quarterly_report_notify(report_id=report.id)

    assert (sent, again) == (1, 0)
    message = mail.outbox[-1]
    assert message.to == [reviewer_a.email]
    assert message.subject == "Quarterly report 2026 Q1 ready (TOL)"
    assert reverse("reports:quarterly_detail", args=[report.id]) in message.body
    for procedure in cohort.values():
        assert procedure.patient.study_id not in message.body + message.subject
        assert procedure.patient.family_name not in message.body


def test_reviewers_of_another_site_and_coordinators_get_no_email(cohort, site_a, site_b, coordinator_a):
    reviewer_b = member(UserFactory(username="reviewer_b"), site_b, Role.REVIEWER)
    services.quarterly_reports_build(year=2026, quarter=1, today=TODAY)
    report = QuarterlyReport.objects.get(site=site_a, year=2026, quarter=1)

    assert services.report_recipients(report) == []
    assert services.report_recipients(QuarterlyReport.objects.get(site=site_b, year=2026, quarter=1)) == [
        reviewer_b.email
    ]


def test_beat_builds_the_previous_quarter_on_the_first_day_of_each_quarter():
    entry = CELERY_BEAT_SCHEDULE["reports-quarterly-build"]
    schedule = entry["schedule"]

    assert entry["task"] == quarterly_reports_build_task.name
    # Every night, so that the night after an interrupted build completes it.
    assert schedule.hour == {3} and schedule.minute == {30} and len(schedule.day_of_month) == 31
    assert 0 < entry["options"]["expires"] <= 24 * 3600
    assert services.previous_quarter(dt.date(2026, 1, 1)) == (2025, 4)
    assert services.previous_quarter(dt.date(2026, 7, 1)) == (2026, 2)


@pytest.mark.worker
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_workers_running_the_build_at_once_leave_one_version(start_worker, site_a, site_b, reviewer_a):
    build_cohort(site_a, site_b)
    start_worker(concurrency=2)

    for _ in range(3):
        quarterly_reports_build_task.delay(2026, 1)

    wait_for(lambda: QuarterlyReport.objects.filter(year=2026, quarter=1).count() >= 3, timeout=120, message="reports")
    wait_for(
        lambda: QuarterlyReport.objects.filter(site=site_a, notified_at__isnull=False).exists(),
        timeout=60,
        message="the reviewers' notice",
    )
    reports = QuarterlyReport.objects.filter(year=2026, quarter=1)
    assert sorted((r.site_id or 0, r.version) for r in reports) == sorted([(site_a.id, 1), (site_b.id, 1), (0, 1)])


def test_the_build_retries_database_errors_within_the_broker_visibility_timeout():
    task = quarterly_reports_build_task
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]

    assert OperationalError in task.autoretry_for
    assert task.time_limit < visibility
    # The longest wait between attempts: 60 s doubling, capped at 15 minutes.
    assert max(min(task.retry_backoff * 2**n, task.retry_backoff_max) for n in range(task.max_retries)) < visibility


def _cut_the_connection_on_second_report_insert():
    """A real database error mid-build: the server ends this session before the second report is
    stored (as a PostgreSQL restart would)."""
    inserts = []

    def wrapper(execute, sql, params, many, context):
        if sql.startswith('INSERT INTO "reports_quarterlyreport"'):
            inserts.append(sql)
            if len(inserts) == 2:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        return execute(sql, params, many, context)

    return wrapper


@pytest.mark.django_db(transaction=True)
def test_an_interrupted_quarterly_build_is_complete_after_the_next_beat_run(site_a, site_b):
    build_cohort(site_a, site_b)

    with pytest.raises(OperationalError), connection.execute_wrapper(_cut_the_connection_on_second_report_insert()):
        services.quarterly_reports_build(year=2026, quarter=1, today=TODAY)
    connection.close()  # What the worker does after a failed task: the next one reconnects.
    assert QuarterlyReport.objects.filter(year=2026, quarter=1).count() == 1

    # The next night (the clock is the only thing mocked): beat applies its entry as configured.
    entry = CELERY_BEAT_SCHEDULE["reports-quarterly-build"]
    with mock.patch("django.utils.timezone.localdate", return_value=TODAY + dt.timedelta(days=1)):
        result = quarterly_reports_build_task.apply(args=entry.get("args", ()), kwargs=entry.get("kwargs", {}))

    assert len(result.get()) == 2
    reports = QuarterlyReport.objects.filter(year=2026, quarter=1)
    assert sorted(r.site_id or 0 for r in reports) == sorted([site_a.id, site_b.id, 0])
    assert all(r.version == 1 and r.pdf and r.xlsx for r in reports)


def _images_on(page) -> int:
    resources = page.get("/Resources") or {}
    xobjects = resources.get("/XObject") or {}
    return sum(1 for ref in xobjects.values() if ref.get_object().get("/Subtype") == "/Image")


def test_pdf_opens_with_a_one_page_summary_then_the_charts_as_images(cohort, site_a):
    services.quarterly_reports_build(year=2026, quarter=1, today=TODAY)
    report = QuarterlyReport.objects.get(site=site_a, year=2026, quarter=1)
    pages = PdfReader(io.BytesIO(bytes(report.pdf))).pages

    first = " ".join(pages[0].extract_text().split())
    # The five figures a department head reads, as the cumulative tables print them.
    assert "Summary (cumulative cohort)" in first
    # A7 alone was treated before 2026: the cumulative counts minus this quarter's would be its own.
    assert "Procedures (patients) withheld (withheld)" in first
    assert f"Patients with a cement leak {hand.share(5, 10)}" in first or "Patients with a cement leak" in first
    for label in (
        "Patients with a symptomatic complication",
        "VAS change at 3 months",
        "ODI change at 3 months",
        "Follow-up response at 3 months",
    ):
        assert label in first
    # Charts the HTML has (trajectories, leak rates, level distribution) are images in the PDF,
    # and so are the fracture section's two Kaplan–Meier curves (new fracture, re-treatment).
    assert sum(_images_on(page) for page in pages) == 6
    assert "Charts" in " ".join(pages[1].extract_text().split())
    # Citations, not file names, in every footnote.
    text = " ".join(page.extract_text() for page in pages)
    assert ".txt" not in text and "Sørensen et al. 2019" in text


def test_pdf_headings_are_never_left_alone_at_the_foot_of_a_page(cohort, site_a):
    services.quarterly_reports_build(year=2026, quarter=1, today=TODAY)
    report = QuarterlyReport.objects.get(site=site_a, year=2026, quarter=1)
    titles = {"Cement leaks", "Complications", "Follow-up", "Data completeness", "Bone health", "Activity"}

    for page in PdfReader(io.BytesIO(bytes(report.pdf))).pages:
        last_line = page.extract_text().strip().splitlines()[-1].strip()
        assert last_line not in titles


def test_xlsx_has_one_typed_row_per_figure(cohort, site_a):
    services.quarterly_reports_build(year=2026, quarter=1, today=TODAY)
    report = QuarterlyReport.objects.get(site=site_a, year=2026, quarter=1)
    sheet = load_workbook(io.BytesIO(bytes(report.xlsx)))["Figures"]
    rows = list(sheet.iter_rows(min_row=2))
    header = [cell.value for cell in next(sheet.iter_rows(max_row=1))]
    assert header[:9] == ["section", "table", "row", "column", "n", "denominator", "value", "lower_95", "upper_95"]

    def figure(row_label, table="Cement leaks", section="Cumulative"):
        return next(
            r for r in rows if r[2].value == row_label and r[1].value == table and r[0].value.startswith(section)
        )

    symptomatic = figure("Symptomatic leaks (of leaks)", section="This quarter")  # 0 of the quarter's 5 leaks
    low, high = hand.wilson(0, 5)
    assert [c.value for c in symptomatic[4:9]] == [0, 5, 0, pytest.approx(low * 100), pytest.approx(high * 100)]
    assert [c.data_type for c in symptomatic[4:9]] == ["n"] * 5
    # A withheld cumulative cell (it differs from this quarter's by A7 alone) has no numbers at all.
    with pytest.raises(StopIteration):
        figure("Levels with a leak — All")
    pvp = figure("Levels with a leak — PVP", section="This quarter")
    assert pvp[9].value == pytest.approx(15 / 41 * 100) and pvp[9].data_type == "n"
    assert pvp[10].value == "Barriga-Martín et al. 2022, Rev Esp Cir Ortop Traumatol, abstract, Results, Table 3"
    # A hidden small cell has no numbers, only its text.
    hidden = figure("Levels with a leak — All", section="This quarter")
    assert [c.value for c in hidden[4:9]] == [None, 11, None, None, None]
    assert hidden[11].value == "<5 / 11 (—)"
