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
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from registry import access
from registry.core.audit import access_log_record
from registry.core.models import AccessKind
from registry.core.spreadsheet import csv_row, xlsx_row
from registry.imports.columns import COLUMNS, HEADER, LEVEL_FIELDS, PATIENT_FIELDS
from registry.imports.models import ExportLog
from registry.imports.reading import CSV, SHEET_NAME, XLSX
from registry.patients.models import Patient, Site
from registry.procedures.models import Procedure, TreatedLevel, VertebralLevel
from registry.procedures.services import PROCEDURE_EDITABLE_FIELDS

WHAT = "Identified case data: patients, procedures, treated levels, cement lots and leaks"
# Drop-downs are set on this many rows of the Cases sheet (a 50,000-level series fits).
MAX_TEMPLATE_ROWS = 100_001
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
                    cells["leak_size"] = (
                        ";".join(leak.size_grade for leak in leaks) if any(leak.size_grade for leak in leaks) else ""
                    )
                    cells["leak_pathway"] = (
                        ";".join(leak.pathway for leak in leaks) if any(leak.pathway for leak in leaks) else ""
                    )
                yield [cells.get(name, "") for name in HEADER]


def export_site(*, site: Site, acting_user, file_format: str) -> tuple[bytes, ExportLog]:
    """The file and its log row; the log is written first, so no export goes unrecorded."""
    access.require_coordinator(acting_user, site.pk)
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
    access_log_record(user=acting_user, kind=AccessKind.IDENTIFIED_EXPORT, site_id=site.pk, rows=len(rows))
    return (_xlsx(rows) if file_format == XLSX else _csv(rows)), log


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(csv_row(row) for row in rows)
    # With a BOM, Excel opens accented names correctly.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _xlsx(rows: list[list[str]]) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(SHEET_NAME)
    sheet.append(HEADER)
    for row in rows:
        sheet.append(xlsx_row(sheet, row))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def template_file(file_format: str, *, example: dict[str, str] | None = None) -> bytes:
    """The empty template: the header row; in Excel also drop-downs, the dictionary and an example.

    Everything comes from ``columns.COLUMNS``, the same definitions that validate an import.
    """
    return _template_xlsx(example or {}) if file_format == XLSX else _csv([])


def _template_xlsx(example: dict[str, str]) -> bytes:
    workbook = Workbook()
    cases = workbook.active
    cases.title = SHEET_NAME
    cases.append(HEADER)
    cases.freeze_panes = "A2"
    dictionary = workbook.create_sheet("Dictionary")
    dictionary.append(["column", "record", "required", "what to write", "codes", "example"])
    lists = workbook.create_sheet("Codes")
    lists.sheet_state = "hidden"
    for index, column in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        codes = column.codes
        dictionary.append(
            [
                column.name,
                column.record,
                "yes" if column.required else "",
                column.help,
                "; ".join(codes),
                example.get(column.name, ""),
            ]
        )
        if codes and not column.multiple:
            for row, code in enumerate(codes, start=1):
                lists.cell(row=row, column=index, value=code)
            validation = DataValidation(
                type="list",
                formula1=f"=Codes!${letter}$1:${letter}${len(codes)}",
                allow_blank=True,
                showErrorMessage=True,
                errorTitle=column.name,
                error="Choose one of the codes in the list (see the Dictionary sheet).",
            )
            validation.add(f"{letter}2:{letter}{MAX_TEMPLATE_ROWS}")
            cases.add_data_validation(validation)
    if example:
        sample_sheet = workbook.create_sheet("Example")
        sample_sheet.append(HEADER)
        sample_sheet.append([example.get(name, "") for name in HEADER])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
