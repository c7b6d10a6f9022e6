"""Thin task adapters around reports.services (STYLE.md item 4): ids in, services do the work."""

from __future__ import annotations

import smtplib

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from reports import services


# A lost database connection (a restart, a failover) fails the build of the reports not yet
# stored; each stored report is its own transaction, so a retry builds only what is missing.
# Back-offs (60 s doubling, at most 15 min) and the hard limit (30 min) stay below the broker's
# visibility timeout (1 h, settings.CELERY_BROKER_TRANSPORT_OPTIONS): a task still running or
# waiting is never handed to a second worker.
@shared_task(
    time_limit=1800,
    soft_time_limit=1700,
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=60,
    retry_backoff_max=900,
    retry_jitter=False,
    max_retries=8,
)
def quarterly_reports_build_task(year: int | None = None, quarter: int | None = None) -> list[int]:
    """Build the previous quarter's reports (or the given one) wherever they are missing.

    Beat rings this every night: whatever an earlier run left unbuilt (an interrupted build, a
    worker that died, a site activated later) is built by the next one; running it again, or
    twice at once, adds nothing (services.quarterly_reports_build).
    """
    today = timezone.localdate()
    if year is None or quarter is None:
        year, quarter = services.previous_quarter(today)
    return [report.id for report in services.quarterly_reports_build(year=year, quarter=quarter, today=today)]


@shared_task(
    time_limit=120,
    soft_time_limit=100,
    autoretry_for=(smtplib.SMTPException, ConnectionError, TimeoutError),
    retry_backoff=60,
    max_retries=5,
)
def quarterly_report_notify_task(report_id: int) -> int:
    return services.quarterly_report_notify(report_id=report_id)


@shared_task(time_limit=600, soft_time_limit=540, acks_late=True)
def dashboard_snapshots_refresh_task() -> int:
    return services.dashboard_snapshots_refresh()


@shared_task(time_limit=600, soft_time_limit=540, acks_late=True)
def site_monitoring_check_task() -> list[int]:
    """Store new CUSUM signals, then queue one alert task per signal not yet alerted."""
    from reports import site_monitoring

    ids = site_monitoring.signals_record()
    for signal_id in ids:
        site_monitoring_alert_task.delay(signal_id)
    return ids


@shared_task(
    time_limit=120,
    soft_time_limit=100,
    autoretry_for=(smtplib.SMTPException, ConnectionError, TimeoutError),
    retry_backoff=60,
    max_retries=5,
)
def site_monitoring_alert_task(signal_id: int) -> int:
    from reports import site_monitoring

    return site_monitoring.signal_alert(signal_id=signal_id)
