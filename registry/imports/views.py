"""Coordinator screens: template, upload and preview, commit, identified export. Thin."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from registry import access
from registry.imports import export
from registry.imports.columns import COLUMNS, KEY_COLUMNS
from registry.imports.forms import ExportForm, MappingSaveForm, MappingSuggestForm, UploadForm
from registry.imports.mapping import events_in as mapping_events_in
from registry.imports.mapping import redcap_preset, suggest_mapping
from registry.imports.models import ImportBatch, ImportMapping, ImportStatus
from registry.imports.reading import CSV, MAX_COLUMNS, XLSX, UnreadableFile, read_sheet, read_upload
from registry.imports.services import (
    ImportRejected,
    import_commit,
    import_mapping_save,
    import_preview,
    stored_sheet,
    template_example,
)
from registry.imports.validation import plan_import


def _require_sites(request):
    sites = access.coordinator_sites(request.user)
    if not sites.exists():
        # Reviewers, investigators and other sites' staff: the page does not exist for them.
        raise Http404
    return sites


def _batch_for(request, batch_id: int) -> ImportBatch:
    sites = _require_sites(request)
    return get_object_or_404(ImportBatch.objects.select_related("site"), pk=batch_id, site__in=sites)


@login_required
@require_http_methods(["GET", "POST"])
def import_home(request):
    sites = _require_sites(request)
    form = UploadForm(request.POST or None, request.FILES or None, sites=sites)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            batch, plan = import_preview(
                site=form.cleaned_data["site"],
                acting_user=request.user,
                name=upload.name,
                data=read_upload(upload),
                mapping=form.cleaned_data.get("mapping"),
            )
        except UnreadableFile as exc:
            form.add_error("file", str(exc))
        else:
            return render(request, "imports/preview.html", {"batch": batch, "plan": plan})
    return render(
        request,
        "imports/home.html",
        {
            "form": form,
            "export_form": ExportForm(sites=sites),
            "columns": COLUMNS,
            "key_columns": KEY_COLUMNS,
            "batches": ImportBatch.objects.filter(site__in=sites).select_related("site", "uploaded_by")[:20],
        },
    )


@login_required
@require_GET
def import_preview_page(request, batch_id: int):
    batch = _batch_for(request, batch_id)
    if batch.status != ImportStatus.PREVIEWED:
        messages.info(request, _("This upload is no longer kept: upload the file again to see it."))
        return redirect("imports:home")
    try:
        sheet = stored_sheet(batch)
    except UnreadableFile as exc:
        messages.info(request, str(exc))
        return redirect("imports:home")
    return render(request, "imports/preview.html", {"batch": batch, "plan": plan_import(site=batch.site, sheet=sheet)})


@login_required
@require_POST
def import_commit_view(request, batch_id: int):
    batch = _batch_for(request, batch_id)
    if batch.status == ImportStatus.COMMITTED:
        messages.info(request, _("This file was already imported."))
        return redirect("imports:home")
    try:
        plan = import_commit(batch=batch, acting_user=request.user)
    except UnreadableFile as exc:
        messages.error(request, str(exc))
        return redirect("imports:home")
    except ImportRejected as exc:
        messages.error(request, _("Nothing was imported: the file has errors now (see below)."))
        return render(request, "imports/preview.html", {"batch": batch, "plan": exc.plan}, status=400)
    counts = plan.counts
    messages.success(
        request,
        _(
            "Imported: %(p)s new patients, %(s)s new procedures, %(l)s new levels; %(u)s levels already in the "
            "registry were skipped; follow-up will be planned for %(f)s procedures with windows still open."
        )
        % {
            "p": counts["patients_new"],
            "s": counts["procedures_new"],
            "l": counts["levels_new"],
            "u": counts["levels_unchanged"] + counts["levels_changed"],
            "f": counts["followup_to_plan"],
        },
    )
    return redirect("imports:home")


@login_required
@require_GET
def import_template(request, file_format: str):
    _require_sites(request)
    if file_format not in (CSV, XLSX):
        raise Http404
    content = export.template_file(file_format, example=template_example(today=timezone.localdate()))
    response = HttpResponse(content, content_type=export.CONTENT_TYPES[file_format])
    response["Content-Disposition"] = f'attachment; filename="registry-import-template.{file_format}"'
    return response


@login_required
@require_POST
def export_download(request):
    sites = _require_sites(request)
    form = ExportForm(request.POST, sites=sites)
    if not form.is_valid():
        messages.error(request, _("Choose one of your sites and a format."))
        return redirect("imports:home")
    site, file_format = form.cleaned_data["site"], form.cleaned_data["file_format"]
    content, _log = export.export_site(site=site, acting_user=request.user, file_format=file_format)
    response = HttpResponse(content, content_type=export.CONTENT_TYPES[file_format])
    stamp = timezone.localdate().isoformat()
    response["Content-Disposition"] = f'attachment; filename="{site.code}-identified-{stamp}.{file_format}"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def mapping_page(request):
    """Step between upload and preview: suggest a mapping from a file or a REDCap dictionary, then save it."""
    sites = _require_sites(request)
    if request.method == "POST" and "save" in request.POST:
        return _mapping_save(request, sites)
    form = MappingSuggestForm(request.POST or None, request.FILES or None, sites=sites)
    if request.method == "POST" and form.is_valid():
        try:
            suggested = _suggest(form.cleaned_data)
        except UnreadableFile as exc:
            form.add_error("file", str(exc))
        else:
            save_form = MappingSaveForm(
                initial={
                    "site": form.cleaned_data["site"],
                    "name": form.cleaned_data["name"],
                    "date_format": suggested["date_format"],
                    "record_column": suggested["record_column"],
                    "codes": _codes_text(suggested["codes"]),
                },
                sites=sites,
            )
            rows = list(suggested["columns"].items())
            return render(request, "imports/mapping.html", {"save_form": save_form, "rows": rows, "columns": COLUMNS})
    mappings = ImportMapping.objects.filter(site__in=sites).select_related("site")
    return render(request, "imports/mapping.html", {"form": form, "mappings": mappings})


def _suggest(data) -> dict:
    if data["kind"] == "redcap":
        events = []
        if data.get("export"):
            _format, export = read_sheet(data["export"].name, read_upload(data["export"]))
            events = mapping_events_in(export)
        return redcap_preset(read_upload(data["file"]), events)
    _format, sheet = read_sheet(data["file"].name, read_upload(data["file"]))
    return suggest_mapping(sheet)


def _codes_text(codes: dict[str, dict[str, str]]) -> str:
    return "\n".join(
        f"{column}: {theirs} = {ours}" for column, table in codes.items() for theirs, ours in table.items()
    )


def _mapping_save(request, sites):
    form = MappingSaveForm(request.POST, sites=sites)
    headers = request.POST.getlist("header")[:MAX_COLUMNS]
    targets = request.POST.getlist("target")[:MAX_COLUMNS]
    rows = list(zip(headers, targets, strict=False))
    if form.is_valid():
        try:
            import_mapping_save(
                site=form.cleaned_data["site"],
                acting_user=request.user,
                name=form.cleaned_data["name"],
                columns=dict(rows),
                codes=form.parsed_codes(),
                date_format=form.cleaned_data["date_format"],
                record_column=form.cleaned_data["record_column"],
            )
        except ValidationError as exc:
            form.add_error(
                None, [f"{key}: {message}" for key, messages in exc.message_dict.items() for message in messages]
            )
        else:
            messages.success(request, _("Mapping saved: choose it when you upload the file."))
            return redirect("imports:home")
    return render(request, "imports/mapping.html", {"save_form": form, "rows": rows, "columns": COLUMNS}, status=400)
