"""Identified export of one site for its own coordinators, in the import template's columns.

The file holds PHI (names, MRN, dates of birth): only the site's coordinators (and registry
administrators) may take it, and every export writes an ``ExportLog`` row (who, which site, what,
when, how many rows) before the file is handed over. Because the columns are the template's,
importing an export back changes nothing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from django.db.models import Prefetch
from openpyxl import Workbook

from registry.core.spreadsheet import csv_row, xlsx_row
from registry.imports.columns import COLUMNS, HEADER, LEVEL_FIELDS, PATIENT_FIELDS
from registry.imports.models import ExportLog
from registry.imports.reading import CSV, SHEET_NAME, XLSX
from registry.imports.services import require_coordinator
from registry.patients.models import Patient, Site
from registry.procedures.models import Procedure, TreatedLevel, VertebralLevel
from registry.procedures.services import PROCEDURE_EDITABLE_FIELDS

WHAT = "Identified case data: patients, procedures, treated levels, cement lots and leaks"
CONTENT_TYPES = {
    CSV: "text/csv; charset=utf-8",
    XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def export_rows(site: Site) -> Iterator[list[str]]:
    levels = TreatedLevel.objects.select_related("cement_lot__product").prefetch_related("leaks").order_by("level")
    procedures = Procedure.objects.order_by("performed_on", "id").prefetch_related(Prefetch("levels", queryset=levels))
    patients = (
        Patient.objects.filter(site=site)
        .order_by("study_id")
        .prefetch_related(Prefetch("procedures", queryset=procedures))
    )
    for patient in patients.iterator(chunk_size=500):
        patient_cells = {name: _text(getattr(patient, name)) for name in PATIENT_FIELDS}
        if not patient.procedures.all():
            yield [patient_cells.get(name, "") for name in HEADER]
        for procedure in patient.procedures.all():
            procedure_cells = {name: _text(getattr(procedure, name)) for name in PROCEDURE_EDITABLE_FIELDS}
            levels_of = procedure.levels.all() or [None]
            for level in levels_of:
                cells = {**patient_cells, **procedure_cells}
                if level is not None:
                    cells.update({name: _text(getattr(level, name)) for name in LEVEL_FIELDS})
                    cells["level"] = VertebralLevel(level.level).name
                    product = level.cement_lot.product
                    cells["cement_product"] = product.gtin or product.brand
                    cells["lot_number"] = level.cement_lot.lot_number
                    cells["lot_expires_on"] = _text(level.cement_lot.expires_on)
                    leaks = list(level.leaks.all())
                    cells["leaks"] = ";".join(leak.location for leak in leaks)
                    cells["leak_detected_by"] = ";".join(leak.detected_by for leak in leaks)
                yield [cells.get(name, "") for name in HEADER]


def export_site(*, site: Site, acting_user, file_format: str) -> tuple[bytes, ExportLog]:
    """The file and its log row; the log is written first, so no export goes unrecorded."""
    require_coordinator(acting_user, site)
    if file_format not in CONTENT_TYPES:
        raise ValueError(f"Unknown export format {file_format!r}.")
    rows = list(export_rows(site))
    log = ExportLog.objects.create(
        site=site,
        exported_by=acting_user,
        file_format=file_format,
        what=WHAT,
        rows=len(rows),
        patients=Patient.objects.filter(site=site).count(),
    )
    return (_xlsx(rows) if file_format == XLSX else _csv(rows)), log


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(csv_row(row) for row in rows)
    # With a BOM, Excel opens accented names correctly.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _xlsx(rows: list[list[str]], *, guide: bool = False) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(SHEET_NAME)
    sheet.append(HEADER)
    for row in rows:
        sheet.append(xlsx_row(sheet, row))
    if guide:
        columns = workbook.create_sheet("Columns")
        columns.append(["column", "required", "what to write"])
        for column in COLUMNS:
            columns.append([column.name, "yes" if column.required else "", column.help])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def template_file(file_format: str) -> bytes:
    """The empty template: the header row (and, in Excel, a second sheet describing each column)."""
    return _xlsx([], guide=True) if file_format == XLSX else _csv([])
