"""Dashboard, quarterly reports and the research export: thin views over services/selectors."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from registry import access
from registry.access import aggregate_access_required, identified_access_required
from registry.db_router import reading_replica
from reports import export, fracture_outcomes, selectors, services, site_monitoring
from reports.forms import RebuildForm, ResearchExportForm, dashboard_filter_form


@require_GET
@aggregate_access_required
def dashboard(request):
    form = dashboard_filter_form(request)
    content = None
    if not form.is_bound or form.is_valid():
        content = services.dashboard_content(user=request.user, cohort=form.cohort(), as_of=form.as_of())
    fractures = None
    if content is not None:
        with reading_replica():
            fractures = fracture_outcomes.dashboard_section(
                cohort=form.cohort(), as_of=form.as_of(), suppress=content.suppressed
            )
    return render(request, "reports/dashboard.html", {"form": form, "content": content, "fracture_outcomes": fractures})


@require_GET
@aggregate_access_required
def quarterly_list(request):
    reports = selectors.quarterly_reports_for_user(request.user)
    rebuild_form = RebuildForm() if access.is_registry_admin(request.user) else None
    return render(request, "reports/quarterly_list.html", {"reports": reports, "rebuild_form": rebuild_form})


@require_GET
@aggregate_access_required
def quarterly_detail(request, report_id: int):
    report = selectors.quarterly_report_get_for_user(user=request.user, report_id=report_id)
    versions = selectors.quarterly_reports_for_user(request.user).filter(
        site_id=report.site_id, year=report.year, quarter=report.quarter
    )
    return render(request, "reports/quarterly_detail.html", {"report": report, "versions": versions})


FILE_TYPES = {
    "html": ("text/html; charset=utf-8", None),
    "pdf": ("application/pdf", "pdf"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
}


@require_GET
@aggregate_access_required
@xframe_options_sameorigin
def quarterly_file(request, report_id: int, file_type: str):
    if file_type not in FILE_TYPES:
        raise Http404
    report = selectors.quarterly_report_get_for_user(user=request.user, report_id=report_id, with_content=True)
    content_type, extension = FILE_TYPES[file_type]
    response = HttpResponse(bytes(getattr(report, file_type)) if extension else report.html, content_type=content_type)
    if extension:
        scope = report.site.code if report.site_id else "registry"
        name = f"quarterly-report-{scope}-{report.year}-Q{report.quarter}-v{report.version}.{extension}"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return response


@require_POST
@aggregate_access_required
def quarterly_rebuild(request):
    if not access.is_registry_admin(request.user):
        raise Http404
    form = RebuildForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a quarter (1–4) and a year to rebuild.")
        return redirect("reports:quarterly_list")
    data = form.cleaned_data
    start, end = services.quarter_bounds(data["year"], data["quarter"])
    if end >= timezone.localdate():
        messages.error(request, f"{data['year']} Q{data['quarter']} has not ended yet.")
        return redirect("reports:quarterly_list")
    report = services.quarterly_report_rebuild(
        site=data["site"], year=data["year"], quarter=data["quarter"], acting_user=request.user
    )
    messages.success(request, f"Built {report} (earlier versions are kept).")
    return redirect("reports:quarterly_detail", report_id=report.id)


@require_http_methods(["GET", "POST"])
@identified_access_required
def research_export(request):
    site_ids = access.research_export_site_ids(request.user)
    if site_ids is not None and not site_ids:
        raise Http404  # Investigators only.
    form = ResearchExportForm(request.POST or None, site_ids=site_ids)
    if request.method == "POST" and form.is_valid():
        result = export.research_export_create(
            user=request.user, cohort=form.cohort(), file_format=form.cleaned_data["file_format"]
        )
        response = HttpResponse(result.content, content_type=result.content_type)
        response["Content-Disposition"] = f'attachment; filename="{result.filename}"'
        response["Cache-Control"] = "no-store"
        return response
    return render(request, "reports/research_export.html", {"form": form})


@require_GET
@aggregate_access_required
def monitoring(request):
    sites = list(access.sites_for_user(request.user, identified=False).order_by("code"))
    suppress = services.dashboard_must_suppress(request.user, tuple(site.id for site in sites))
    content = site_monitoring.page_content(sites=sites, as_of=timezone.localdate(), suppress=suppress)
    return render(request, "reports/monitoring.html", {"content": content})
