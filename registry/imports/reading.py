"""Reading a spreadsheet into rows of text cells, numbered as the coordinator sees them.

The header is row 1; the first case is row 2. Rows whose cells are all empty are skipped (their
numbers are kept, so messages still point at the right line). Cells become text: dates as
``YYYY-MM-DD``, whole numbers without ``.0``; everything else is parsed later, column by column.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field

from python_calamine import CalamineWorkbook

CSV, XLSX = "csv", "xlsx"
SHEET_NAME = "Cases"


class UnreadableFile(ValueError):
    """The file is not a CSV or XLSX this importer can read; the message says why in plain words."""


@dataclass
class Sheet:
    header: list[str]
    rows: list[tuple[int, list[str]]] = field(default_factory=list)


def file_format_of(name: str, head: bytes) -> str:
    if head.startswith(b"PK\x03\x04"):
        return XLSX
    if name.lower().endswith((".xlsx", ".xlsm")):
        raise UnreadableFile("The file is named .xlsx but is not an Excel workbook.")
    return CSV


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value).strip()


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnreadableFile("The CSV file is neither UTF-8 nor Windows (cp1252) text.")


def read_csv(data: bytes) -> Sheet:
    text = _decode(data)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header = [cell.strip() for cell in next(reader)]
    except StopIteration:
        raise UnreadableFile("The file is empty.") from None
    sheet = Sheet(header=header)
    for number, cells in enumerate(reader, start=2):
        cells = [cell.strip() for cell in cells]
        if any(cells):
            sheet.rows.append((number, cells))
    return sheet


def read_xlsx(data: bytes) -> Sheet:
    # calamine (Rust) reads a 50,000-row workbook in seconds; openpyxl took ~50 s on its own.
    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        name = SHEET_NAME if SHEET_NAME in workbook.sheet_names else workbook.sheet_names[0]
        rows = workbook.get_sheet_by_name(name).to_python(skip_empty_area=False)
    except Exception as exc:  # noqa: BLE001 - the reader raises many kinds for a damaged file
        raise UnreadableFile("The Excel workbook could not be opened (is it damaged or password protected?).") from exc
    if not rows:
        raise UnreadableFile("The first sheet is empty.")
    sheet = Sheet(header=[_cell_text(value) for value in rows[0]])
    for number, values in enumerate(rows[1:], start=2):
        cells = [_cell_text(value) for value in values]
        if any(cells):
            sheet.rows.append((number, cells))
    return sheet


def read_sheet(name: str, data: bytes) -> tuple[str, Sheet]:
    file_format = file_format_of(name, data[:4])
    return file_format, (read_xlsx(data) if file_format == XLSX else read_csv(data))
