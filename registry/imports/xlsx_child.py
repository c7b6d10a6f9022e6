"""Parse one XLSX workbook in a child process: bytes on stdin, JSON rows on stdout.

Run by ``reading.read_xlsx`` under a memory limit (``resource.RLIMIT_AS``) and a time limit, so a
workbook that makes calamine allocate without bound (a Rust abort, not an exception) ends only
this process and its import fails with a clear message. Imports nothing of Django or the registry.

Arguments: sheet name to prefer, maximum columns, maximum data rows, maximum characters per cell.
The answer is ``{"header": [...], "rows": [[number, [cells]], ...]}`` or ``{"error": "..."}``.
"""

import datetime as dt
import io
import json
import sys


def cell_text(value) -> str:
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


def parse(data: bytes, sheet_name: str, max_columns: int, max_rows: int, max_cell: int) -> dict:
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        name = sheet_name if sheet_name in workbook.sheet_names else workbook.sheet_names[0]
        sheet = workbook.get_sheet_by_name(name)
        end = sheet.end or (0, 0)
        if end[1] + 1 > max_columns or end[0] > max_rows:
            return {"error": "dimensions"}
        # iter_rows starts at row 1 but at the first used column: pad back to column A.
        lead = [""] * (sheet.start or (0, 0))[1]
        header = None
        out = []
        for number, values in enumerate(sheet.iter_rows(), start=1):
            cells = lead + [cell_text(value) for value in values]
            for index, cell in enumerate(cells):
                if len(cell) > max_cell:
                    return {"error": "cell", "row": number, "column": index + 1}
            if header is None:
                header = cells
            elif any(cells):
                out.append([number, cells])
    except MemoryError:
        return {"error": "memory"}
    except Exception:  # noqa: BLE001 - calamine raises many kinds for a damaged file
        return {"error": "damaged"}
    if header is None:
        return {"error": "empty"}
    return {"header": header, "rows": out}


def main() -> None:
    sheet_name, max_columns, max_rows, max_cell = sys.argv[1], *map(int, sys.argv[2:5])
    result = parse(sys.stdin.buffer.read(), sheet_name, max_columns, max_rows, max_cell)
    sys.stdout.write(json.dumps(result, separators=(",", ":")))


if __name__ == "__main__":
    main()
