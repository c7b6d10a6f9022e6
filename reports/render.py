"""A report's three artifacts from one set of tables: HTML, PDF (reportlab), XLSX (XlsxWriter)."""

from __future__ import annotations

import functools
import hashlib
import io
import re
import struct
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import matplotlib
import xlsxwriter
from django.template.loader import render_to_string
from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfdoc import PDFArray, PDFDictionary, PDFName, PDFObject, PDFStream
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    Image,
    KeepTogether,
    LongTable,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    TableStyle,
)

from registry.core.spreadsheet import xlsxwriter_row
from reports.tables import Section

# DejaVu Sans (shipped with matplotlib) has ±, –, ≥ and the other signs the tables use;
# the PDF core fonts do not.
_FONT = "DejaVuSans"
_FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
_fonts_registered = False


def _register_fonts() -> None:
    global _fonts_registered
    if not _fonts_registered:
        pdfmetrics.registerFont(TTFont(_FONT, str(_FONT_DIR / "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont(f"{_FONT}-Bold", str(_FONT_DIR / "DejaVuSans-Bold.ttf")))
        _fonts_registered = True


# Image streams as binary Flate, not ASCII85 text on top: a quarter smaller, and reportlab's
# ASCII85 encoder is pure Python without its optional C accelerator (a third of a PDF's time).
rl_config.useA85 = 0

_CELL_FONT_SIZE = 7.5
_CELL_LEADING = _CELL_FONT_SIZE + 1.5
# DejaVu Sans averages a little under 0.6 em per character; padding is 6 pt a side.
_EM_PER_CHARACTER = 0.6


# Row labels, column titles and many figures recur in every section and report of a build.
@functools.lru_cache(maxsize=16384)
def _wrap(text: str, width: float) -> str:
    characters = max(8, int((width - 12) / (_CELL_FONT_SIZE * _EM_PER_CHARACTER)))
    return "\n".join(textwrap.wrap(text, characters, break_on_hyphens=False)) if len(text) > characters else text


@dataclass
class ReportDocument:
    title: str
    subtitle: str
    facts: list[tuple[str, str]]
    sections: list[Section]
    charts: list[tuple[str, str]] = field(default_factory=list)  # (title, inline SVG, with .png for the PDF)
    images: list[tuple[str, bytes]] = field(default_factory=list)  # (title, PNG): more charts in the PDF
    summary: list[tuple[str, str]] = field(default_factory=list)  # the first page's figures


def render_html(document: ReportDocument) -> str:
    return render_to_string("reports/quarterly_report.html", {"document": document})


def _sheet_name(prefix: str, key: str, taken: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\]", "", f"{prefix}{key}")[:31]
    name, n = base, 2
    while name in taken:
        suffix = f"~{n}"
        name, n = base[: 31 - len(suffix)] + suffix, n + 1
    taken.add(name)
    return name


# Column widths stored as openpyxl stored them (Excel's raw width, in widths of a digit):
# XlsxWriter adds a digit's padding to a width in characters, but stores a width in pixels
# as pixels / 7 (Calibri 11's digit).
def _column_pixels(width: int) -> int:
    return width * 7


def render_xlsx(document: ReportDocument) -> bytes:
    """One sheet per table, after a cover sheet; sheet names are the table keys, prefixed
    "T " (this quarter) or "C " (cumulative) when the report has both sections. Written by
    XlsxWriter, in memory: a report has ~10,000 cells, which it writes in half openpyxl's time
    (its constant-memory mode costs a temporary file per sheet, more than it saves here)."""
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(
        buffer,
        # Cells are written by type (registry.core.spreadsheet): no formula or link is ever
        # guessed from a text.
        {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False},
    )
    plain = {"quoted": workbook.add_format({"quote_prefix": True})}
    bold = {
        "cell_format": workbook.add_format({"bold": True}),
        "quoted": workbook.add_format({"bold": True, "quote_prefix": True}),
    }
    cover = workbook.add_worksheet("Report")
    cover.set_column_pixels(0, 0, _column_pixels(24))
    cover.set_column_pixels(1, 1, _column_pixels(90))
    contents = [
        ([document.title], bold),
        ([document.subtitle], plain),
        *(([label, value], plain) for label, value in document.facts),
        ([], plain),
        (["Sheet", "Table"], bold),
        (["Figures", "Every figure as numbers: one row each, typed columns"], plain),
    ]
    _figures_sheet(workbook.add_worksheet("Figures"), document, plain=plain, bold=bold)
    taken = {"Report", "Figures"}
    prefixes = [f"{section.title[0]} " if len(document.sections) > 1 else "" for section in document.sections]
    for section, prefix in zip(document.sections, prefixes, strict=True):
        for table in section.tables:
            sheet = workbook.add_worksheet(_sheet_name(prefix, table.key, taken))
            contents.append(([sheet.name, f"{section.title}: {table.title}"], plain))
            sheet.set_column_pixels(0, 0, _column_pixels(42))
            if len(table.columns) > 1:
                sheet.set_column_pixels(1, len(table.columns) - 1, _column_pixels(34))
            xlsxwriter_row(sheet, 0, [f"{section.title}: {table.title}"], **bold)
            xlsxwriter_row(sheet, 1, table.columns, **bold)
            for row, values in enumerate(table.rows, start=2):
                xlsxwriter_row(sheet, row, values, **plain)
            if table.note:
                xlsxwriter_row(sheet, len(table.rows) + 3, [table.note], **plain)
    # The cover lists every sheet: its rows are written once the sheets are named.
    for row, (values, formats) in enumerate(contents):
        xlsxwriter_row(cover, row, values, **formats)
    workbook.close()
    return buffer.getvalue()


FIGURE_COLUMNS = [
    "section", "table", "row", "column", "n", "denominator", "value", "lower_95", "upper_95",
    "benchmark_value", "benchmark_source", "as_shown",
]  # fmt: skip


def _figures_sheet(sheet, document: ReportDocument, *, plain: dict, bold: dict) -> None:
    """One row per figure with typed numeric columns, for a statistician to compute with: n and
    denominator as integers, the value (a percent for proportions, else the mean) and its 95 %
    interval as numbers, the benchmark beside it; hidden small cells have empty numbers."""
    xlsxwriter_row(sheet, 0, FIGURE_COLUMNS, **bold)
    row_number = 1
    for section in document.sections:
        for table in section.tables:
            benchmark_column = next((i for i, c in enumerate(table.columns) if c.startswith("Benchmark")), None)
            source_column = table.columns.index("Source") if "Source" in table.columns else None
            for row, figures in zip(table.rows, table.figures, strict=True):
                source = row[source_column] if source_column is not None else table.benchmark_source
                for index, figure in enumerate(figures):
                    if figure is None or index in (0, benchmark_column):
                        continue
                    beside = not table.benchmark_for or table.columns[index] == table.benchmark_for
                    benchmark = figures[benchmark_column] if benchmark_column is not None and beside else None
                    xlsxwriter_row(
                        sheet,
                        row_number,
                        [
                            section.title, table.title, row[0], table.columns[index],
                            figure.n, figure.denominator, figure.value, figure.lower, figure.upper,
                            benchmark.value if benchmark is not None else None,
                            source if benchmark is not None else "", str(figure),
                        ],
                        **plain,
                    )  # fmt: skip
                    row_number += 1


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_pixels(png: bytes) -> tuple[int, int, bytes] | None:
    """Width, height and compressed pixels (the IDAT chunks) of an 8-bit RGB, non-interlaced PNG
    without a transparent colour; None for any other PNG."""
    if not png.startswith(_PNG_SIGNATURE):
        return None
    position, header, pixels = len(_PNG_SIGNATURE), None, []
    while position + 8 <= len(png):
        length, kind = struct.unpack_from(">I4s", png, position)
        data = png[position + 8 : position + 8 + length]
        position += 12 + length  # length, type, data, CRC
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", data)
        elif kind == b"IDAT":
            pixels.append(data)
        elif kind in (b"tRNS", b"PLTE"):
            return None
    if header is None or not pixels or header[2:] != (8, 2, 0, 0, 0):  # depth 8, RGB, deflate, no interlace
        return None
    return header[0], header[1], b"".join(pixels)


class _PngImageXObject(PDFObject):
    """An image XObject holding a PNG's own compressed pixels: PDF's Flate filter reads PNG's
    per-row predictors (ISO 32000-1, 7.4.4.4), so the pixels are those of the PNG, embedded
    without decoding and compressing them again as reportlab does (half of a report's PDF time)."""

    def __init__(self, width: int, height: int, pixels: bytes):
        self.width, self.height, self.pixels = width, height, pixels

    def format(self, document):
        stream = PDFStream(content=self.pixels)
        stream.dictionary.dict.update(
            Type=PDFName("XObject"),
            Subtype=PDFName("Image"),
            Width=self.width,
            Height=self.height,
            BitsPerComponent=8,
            ColorSpace=PDFName("DeviceRGB"),
            Filter=PDFArray([PDFName("FlateDecode")]),
            DecodeParms=PDFDictionary({"Predictor": 15, "Colors": 3, "BitsPerComponent": 8, "Columns": self.width}),
        )
        return stream.format(document)


class _PngImage(Image):
    """A chart's RGB PNG laid out as reportlab's Image lays it out, and drawn as its ``drawImage``
    draws one (the same operators), from an XObject holding the PNG's own compressed pixels."""

    def __init__(self, png: bytes, pixels: tuple[int, int, bytes], *, width: float, height: float):
        super().__init__(io.BytesIO(png), width=width, height=height)
        self.xobject = _PngImageXObject(*pixels)
        self.xobject_name = "png" + hashlib.md5(png, usedforsecurity=False).hexdigest()

    def draw(self):
        canvas = self.canv
        if not canvas.hasForm(self.xobject_name):
            # reportlab has no public call that adds a ready-made image: drawImage adds its own so.
            canvas._doc.addForm(self.xobject_name, self.xobject)
        canvas._currentPageHasImages = 1  # the page's resources name images, as after drawImage
        canvas.saveState()
        canvas.translate(getattr(self, "_offs_x", 0), getattr(self, "_offs_y", 0))
        canvas.scale(self.drawWidth, self.drawHeight)
        canvas.doForm(self.xobject_name)
        canvas.restoreState()


def _png_flowable(png: bytes, width: float, height: float | None = None) -> Image:
    """The PNG at ``width`` points wide (and ``height`` high, else in its own proportions)."""
    pixels = _png_pixels(png)
    if height is None:
        pixels_wide, pixels_high = (pixels[0], pixels[1]) if pixels else ImageReader(io.BytesIO(png)).getSize()
        height = width * pixels_high / pixels_wide
    if pixels is None:
        return Image(io.BytesIO(png), width=width, height=height)
    return _PngImage(png, pixels, width=width, height=height)


def _row_heights(data: list[list[str]]) -> list[float]:
    """Each row's height as reportlab computes it for text cells (lines × leading, plus the default
    3 pt padding above and below), given so that it is not measured again each time a long table
    is split over a page."""
    return [_CELL_LEADING * max(cell.count("\n") + 1 for cell in row) + (3 + 3) for row in data]


def render_pdf(document: ReportDocument) -> bytes:
    _register_fonts()
    styles = getSampleStyleSheet()
    for name in ("Title", "Heading1", "Heading2", "Normal", "BodyText"):
        styles[name].fontName = f"{_FONT}-Bold" if name.startswith(("Title", "Heading")) else _FONT
    for name in ("Heading1", "Heading2"):
        styles[name].keepWithNext = 1  # never a heading alone at the foot of a page
    note_style = styles["BodyText"].clone("note", fontSize=7, leading=9, textColor=colors.HexColor("#555555"))
    page = landscape(A4)
    usable = page[0] - 30 * mm
    story = [Paragraph(escape(document.title), styles["Title"]), Paragraph(escape(document.subtitle), styles["Normal"])]
    if document.summary:
        # Page one: the figures a department head reads, then what the report is.
        story += [Spacer(1, 4 * mm), Paragraph("Summary (cumulative cohort)", styles["Heading2"])]
        summary = LongTable(
            [[_wrap(label, usable * 0.45), _wrap(value, usable * 0.55)] for label, value in document.summary],
            colWidths=[usable * 0.45, usable * 0.55],
        )
        summary.setStyle(
            TableStyle(
                [
                    ("FONTNAME", (0, 0), (-1, -1), _FONT),
                    ("FONTNAME", (0, 0), (0, -1), f"{_FONT}-Bold"),
                    ("FONTSIZE", (0, 0), (-1, -1), 9.5),
                    ("LEADING", (0, 0), (-1, -1), 12),
                    ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#d0d7de")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        story += [summary, Spacer(1, 4 * mm)]
    for label, value in document.facts:
        story.append(Paragraph(f"<b>{escape(label)}:</b> {escape(value)}", note_style))
    images = [(title, chart) for title, chart in document.charts if getattr(chart, "png", None)]
    if images:
        story += [PageBreak(), Paragraph("Charts", styles["Heading1"])]
        for title, chart in images:
            width, height = chart.size
            scale = min(1.0, (usable * 0.75) / (width * 72))
            story.append(
                KeepTogether(
                    [
                        _png_flowable(chart.png, width * 72 * scale, height * 72 * scale),
                        Paragraph(escape(title), note_style),
                        Spacer(1, 3 * mm),
                    ]
                )
            )
    for title, png in document.images:
        story += [Paragraph(escape(title), styles["Heading2"]), _png_flowable(png, usable)]
    for section in document.sections:
        story += [PageBreak(), Paragraph(escape(section.title), styles["Heading1"])]
        for table in section.tables:
            story.append(Paragraph(escape(table.title), styles["Heading2"]))
            first = 0.3 if len(table.columns) > 2 else 0.5
            rest = (1 - first) / max(1, len(table.columns) - 1)
            widths = [usable * first] + [usable * rest] * (len(table.columns) - 1)
            # Plain strings wrapped by width, not a Paragraph per cell: a tenth of the time for
            # the same page (the lot and outcome tables have hundreds of cells).
            data = [
                [_wrap(cell, width) for cell, width in zip(row, widths, strict=True)]
                for row in [table.columns, *table.rows]
            ]
            flowable = LongTable(data, colWidths=widths, rowHeights=_row_heights(data), repeatRows=1)
            flowable.setStyle(
                TableStyle(
                    [
                        ("FONTNAME", (0, 0), (-1, -1), _FONT),
                        ("FONTNAME", (0, 0), (-1, 0), f"{_FONT}-Bold"),
                        ("FONTSIZE", (0, 0), (-1, -1), _CELL_FONT_SIZE),
                        ("LEADING", (0, 0), (-1, -1), _CELL_LEADING),
                        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f3f5f7")),
                        ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#d0d7de")),
                        ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ]
                )
            )
            story.append(flowable)
            if table.note:
                story.append(Paragraph(escape(table.note), note_style))
            story.append(Spacer(1, 4 * mm))
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=page,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title=document.title,
        author="Vertebral augmentation registry",
        invariant=1,
    )
    doc.build(story)
    return buffer.getvalue()
