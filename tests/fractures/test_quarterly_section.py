"""The quarterly report carries the new-fracture survival tables, charts (HTML and PDF) and the
adjudication count."""

import datetime as dt
import io

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from registry.fractures import services as fracture_services
from registry.procedures.models import VertebralLevel as V
from reports import services
from tests.fractures.conftest import DAY0, treated_patient

pytestmark = pytest.mark.django_db


def test_quarterly_report_has_the_survival_section_in_html_pdf_and_xlsx(site_a, coordinator_a, clock):
    patient, _ = treated_patient(site_a, V.L1)
    treated_patient(site_a, V.T8)
    fracture_services.fracture_record(
        patient=patient, acting_user=coordinator_a, levels=[V.L2], diagnosed_on=DAY0 + dt.timedelta(days=40),
        confirmed_by="radiograph", symptomatic=True,
    )  # fmt: skip

    (report,) = [r for r in services.quarterly_reports_build(year=2026, quarter=1) if r.site_id == site_a.pk]

    assert "New-fracture-free survival" in report.html and 'alt="New-fracture-free survival"' in report.html
    assert "Adjudicated by an investigator: 0 of 1 new fractures" in report.html
    pdf = PdfReader(io.BytesIO(bytes(report.pdf)))
    text = "".join(page.extract_text() for page in pdf.pages)
    assert "New-fracture-free survival" in text
    assert any(page.images for page in pdf.pages)  # the Kaplan–Meier charts as pictures
    workbook = load_workbook(io.BytesIO(bytes(report.xlsx)), read_only=True)
    assert "N km_new_fracture" in workbook.sheetnames
