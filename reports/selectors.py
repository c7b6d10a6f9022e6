"""Reads of the reports app on a user's behalf (site-scoped; aggregate access)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from registry import access
from reports.models import QuarterlyReport

LIST_FIELDS = ("id", "site", "year", "quarter", "version", "period_start", "period_end", "built_at", "built_by")


def quarterly_reports_for_user(user) -> QuerySet[QuarterlyReport]:
    """Reports of the user's sites; whole-registry reports (site empty) for administrators only,
    since they compare every site."""
    reports = QuarterlyReport.objects.select_related("site", "built_by").only(
        *LIST_FIELDS, "site__code", "site__name", "built_by__username"
    )
    site_ids = access.aggregate_site_ids(user)
    return reports if site_ids is None else reports.filter(site_id__in=site_ids)


def quarterly_report_get_for_user(*, user, report_id: int, with_content: bool = False) -> QuarterlyReport:
    reports = quarterly_reports_for_user(user)
    if with_content:
        reports = QuarterlyReport.objects.filter(pk__in=reports.values("pk")).select_related("site")
    try:
        return reports.get(pk=report_id)
    except QuarterlyReport.DoesNotExist:
        raise Http404 from None
