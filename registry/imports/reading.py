"""Reading a spreadsheet into rows of text cells, numbered as the coordinator sees them.

The header is row 1; the first case is row 2. Rows whose cells are all empty are skipped (their
numbers are kept, so messages still point at the right line). Cells become text: dates as
``YYYY-MM-DD``, whole numbers without ``.0``; everything else is parsed later, column by column.

Every file is hostile until bounded (the same limits for the screens, the API and the command):
its size, its rows, its columns and each cell's length. A workbook is a zip of XML: the declared
uncompressed sizes and the cell references in the sheet XML are checked *before* calamine sees
it (calamine allocates the whole rectangle up to the last cell: A1 + XFD1048576 is 512 GB), and
calamine then runs in a child process under a memory and a time limit (``xlsx_child.py``), so a
workbook that still gets past the checks fails only its own import.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

CSV, XLSX = "csv", "xlsx"
SHEET_NAME = "Cases"

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_ROWS = 200_000
MAX_COLUMNS = 300
MAX_CELL_CHARS = 2000
# calamine allocates every cell of the rectangle up to the last one used (a 50,000-level series
# is about 2.5 million).
MAX_CELLS = 20_000_000
# What the XML of a workbook may unpack to (a 50,000-level series is about 100 MB).
MAX_UNCOMPRESSED_BYTES = 400 * 1024 * 1024
CHILD = Path(__file__).with_name("xlsx_child.py")
# XML allows either quote; the declared <dimension> counts like a cell (its last corner).
_CELL_REF = re.compile(rb"<(?:\w+:)?c\b[^>]*?\br=[\"']\$?([A-Z]{1,4})\$?([0-9]{1,8})[\"']")
_ROW_REF = re.compile(rb"<(?:\w+:)?row\b[^>]*?\br=[\"']([0-9]{1,8})[\"']")
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\b[^>]*?\bref=[\"'](?:[^:\"']*:)?\$?([A-Z]{1,4})\$?([0-9]{1,8})[\"']")


class UnreadableFile(ValueError):
    """The file is not a CSV or XLSX this importer can read; the message says why in plain words."""


@dataclass
class Sheet:
    header: list[str]
    rows: list[tuple[int, list[str]]] = field(default_factory=list)

    def as_json(self) -> dict:
        return {"header": self.header, "rows": self.rows}

    @classmethod
    def from_json(cls, data: dict) -> Sheet:
        return cls(header=list(data["header"]), rows=[(int(n), list(cells)) for n, cells in data["rows"]])


def _too_big() -> UnreadableFile:
    return UnreadableFile(f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB: split it by year.")


def _too_wide(columns: int) -> UnreadableFile:
    return UnreadableFile(f"The file has {columns:,} columns; an import takes at most {MAX_COLUMNS}.")


def _too_long(rows: int) -> UnreadableFile:
    return UnreadableFile(f"The file has {rows:,} rows; an import takes at most {MAX_ROWS:,}: split it by year.")


def _cell_too_long(row: int, column: int) -> UnreadableFile:
    return UnreadableFile(
        f"Row {row}, column {column}: a cell holds more than {MAX_CELL_CHARS:,} characters; "
        "an import takes shorter values."
    )


def read_upload(upload) -> bytes:
    """The bytes of an uploaded file, refused by its size before anything is read into memory."""
    if upload.size is None or upload.size > MAX_FILE_BYTES:
        raise _too_big()
    data = upload.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise _too_big()
    return data


def file_format_of(name: str, head: bytes) -> str:
    if head.startswith(b"PK\x03\x04"):
        return XLSX
    if name.lower().endswith((".xlsx", ".xlsm")):
        raise UnreadableFile("The file is named .xlsx but is not an Excel workbook.")
    return CSV


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
    # The csv module refuses a field longer than this itself (csv.Error), before it is built.
    csv.field_size_limit(MAX_CELL_CHARS * 4)
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    sheet = None
    try:
        for number, cells in enumerate(reader, start=1):
            if len(cells) > MAX_COLUMNS:
                raise _too_wide(len(cells))
            if number > MAX_ROWS + 1:
                raise _too_long(text.count("\n"))
            for index, cell in enumerate(cells):
                if len(cell) > MAX_CELL_CHARS:
                    raise _cell_too_long(number, index + 1)
            cells = [cell.strip() for cell in cells]
            if sheet is None:
                sheet = Sheet(header=cells)
            elif any(cells):
                sheet.rows.append((number, cells))
    except csv.Error:
        raise UnreadableFile(
            f"Row {reader.line_num}: a cell holds more than {MAX_CELL_CHARS:,} characters or an unclosed quote."
        ) from None
    if sheet is None:
        raise UnreadableFile("The file is empty.")
    return sheet


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def _check_workbook(data: bytes) -> None:
    """Refuse a workbook whose unpacked size or sheet extent is beyond the limits, without parsing it."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError):
        raise UnreadableFile("The Excel workbook could not be opened (is it damaged?).") from None
    if sum(member.file_size for member in members) > MAX_UNCOMPRESSED_BYTES:
        raise UnreadableFile(
            f"The workbook unpacks to more than {MAX_UNCOMPRESSED_BYTES // (1024 * 1024)} MB: "
            "it is not a case series this import can take."
        )
    for member in members:
        if not (member.filename.startswith("xl/worksheets/") and member.filename.endswith(".xml")):
            continue
        max_row = max_column = 0
        tail = b""
        try:
            # zipfile stops at the declared size (checked above) and refuses a member that lies.
            with archive.open(member) as xml:
                while chunk := xml.read(1024 * 1024):
                    text = tail + chunk
                    for match in (*_CELL_REF.finditer(text), *_DIMENSION.finditer(text)):
                        max_column = max(max_column, _column_number(match.group(1)))
                        max_row = max(max_row, int(match.group(2)))
                    for match in _ROW_REF.finditer(text):
                        max_row = max(max_row, int(match.group(1)))
                    if max_column > MAX_COLUMNS:
                        raise _too_wide(max_column)
                    if max_row > MAX_ROWS + 1:
                        raise _too_long(max_row)
                    tail = text[-200:]
        except (zipfile.BadZipFile, EOFError, OSError, RuntimeError):
            raise UnreadableFile("The Excel workbook could not be opened (is it damaged?).") from None
        if max_row * max_column > MAX_CELLS:
            raise UnreadableFile(
                f"The sheet spans {max_row:,} rows by {max_column} columns; an import takes at most "
                f"{MAX_CELLS:,} cells: split it by year."
            )


def read_xlsx(data: bytes) -> Sheet:
    _check_workbook(data)
    limit = settings.IMPORT_PARSE_MEMORY_MB * 1024 * 1024

    def bounded() -> None:  # pragma: no cover - runs in the child before exec
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    command = [sys.executable, str(CHILD), SHEET_NAME, str(MAX_COLUMNS), str(MAX_ROWS), str(MAX_CELL_CHARS)]
    try:
        child = subprocess.run(  # noqa: S603 - our own script, fixed arguments
            command,
            input=data,
            capture_output=True,
            timeout=settings.IMPORT_PARSE_SECONDS,
            preexec_fn=bounded,  # noqa: PLW1509 - only setrlimit, no locks taken
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise UnreadableFile(
            "The workbook took too long to read: it is not a case series this import can take."
        ) from None
    result = json.loads(child.stdout) if child.returncode == 0 else {"error": "memory"}
    error = result.get("error")
    if error == "memory":
        # calamine aborts (or Python runs out) under the child's memory limit.
        raise UnreadableFile("The workbook needs more memory than an import may use: it is not a case series.")
    if error == "dimensions":
        raise UnreadableFile(f"The sheet is larger than an import takes ({MAX_ROWS:,} rows, {MAX_COLUMNS} columns).")
    if error == "cell":
        raise _cell_too_long(result["row"], result["column"])
    if error == "empty":
        raise UnreadableFile("The first sheet is empty.")
    if error:
        raise UnreadableFile("The Excel workbook could not be opened (is it damaged or password protected?).")
    return Sheet.from_json(result)


def read_sheet(name: str, data: bytes) -> tuple[str, Sheet]:
    if len(data) > MAX_FILE_BYTES:
        raise _too_big()
    file_format = file_format_of(name, data[:4])
    return file_format, (read_xlsx(data) if file_format == XLSX else read_csv(data))
