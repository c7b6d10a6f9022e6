"""Your columns, your codes: a department's spreadsheet mapped onto the template before validation.

A mapping says which of the file's columns is which template column, which of its codes is which
vocabulary code ("vertebroplasty" → PVP, "L-1" → L1, "1"/"0" → yes/no), the format of its dates,
and optionally a record column whose first row's patient and procedure values fill the later rows
of the same record (a REDCap export lists each record's later events on rows of their own).
Mappings are saved per site (``ImportMapping``) and applied to the rows parsed at upload; the
result is validated exactly like a file in the template's columns.

Suggestions come from name similarity (``difflib``) between the file's headers (or a REDCap data
dictionary's field names and labels) and the template's column names and descriptions; code
suggestions compare the dictionary's choices, or without a dictionary the distinct values found in
the uploaded file, with each vocabulary's codes and labels.
"""

from __future__ import annotations

import datetime as dt
import re
from difflib import SequenceMatcher

from registry.imports.columns import BY_NAME, COLUMNS, HISTORY, PATIENT, PROCEDURE
from registry.imports.reading import MAX_CELL_CHARS, MAX_COLUMNS, Sheet, UnreadableFile, read_csv

# Records whose values are the same on every row of a record (filled down by ``record_column``).
FILLED_RECORDS = (PATIENT, PROCEDURE, HISTORY)
IGNORE = ""
# What a date format may say: strptime directives the mapping screen offers.
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y/%m/%d")
SUGGEST_THRESHOLD = 0.75
# REDCap's own columns: the event becomes the time point; the rest is bookkeeping.
REDCAP_EVENT = "redcap_event_name"


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", str(text).lower())


def _similarity(a: str, b: str) -> float:
    a, b = _key(a), _key(b)
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    return SequenceMatcher(None, a, b).ratio()


def suggest_column(header: str, label: str = "") -> str:
    """The template column most like ``header`` (or its label), or "" when none is close enough."""
    best, score = IGNORE, 0.0
    for column in COLUMNS:
        candidates = [column.name]
        if column.field is not None:
            candidates.append(str(column.field.verbose_name))
        for text in (header, label):
            for candidate in candidates:
                value = _similarity(text, candidate)
                if value > score:
                    best, score = column.name, value
    return best if score >= SUGGEST_THRESHOLD else IGNORE


def suggest_columns(headers: list[str]) -> dict[str, str]:
    taken: set[str] = set()
    suggestions = {}
    for header in headers:
        name = suggest_column(header)
        suggestions[header] = "" if name in taken else name
        taken.add(name)
    return suggestions


def suggest_code(column_name: str, their_code: str, their_label: str = "") -> str:
    """The vocabulary code most like the file's code or its label, or "" when none is close."""
    column = BY_NAME[column_name]
    codes = column.codes
    if not codes:
        return ""
    labels = {code: code for code in codes}
    if column.field is not None and column.field.choices:
        labels.update({str(value): str(label) for value, label in column.field.flatchoices if value != ""})
    if codes == ["yes", "no"]:
        yes_no = {"1": "yes", "0": "no", "y": "yes", "n": "no", "si": "yes", "true": "yes", "false": "no"}
        found = yes_no.get(_key(their_code)) or yes_no.get(_key(their_label))
        if found:
            return found
    initial = _key(their_code)
    if 0 < len(initial) <= 2:
        # An abbreviation ("F", "M") that starts exactly one code or label.
        starting = {code for code in codes if any(_key(t).startswith(initial) for t in (code, labels[code]))}
        if len(starting) == 1:
            return starting.pop()
    best, score = "", 0.0
    for code in codes:
        for text in (their_code, their_label):
            for candidate in (code, labels.get(code, code)):
                value = _similarity(text, candidate)
                # A label contained in ours ("Vertebroplasty" in "Percutaneous vertebroplasty") is a match.
                if _key(text) and len(_key(text)) >= 4 and _key(text) in _key(candidate):
                    value = max(value, 0.9)
                if value > score:
                    best, score = code, value
    return best if score >= SUGGEST_THRESHOLD else ""


# Distinct values looked at per coded column of an uploaded file (a vocabulary has far fewer).
MAX_DISTINCT_CODES = 200


def suggest_codes(sheet: Sheet, columns: dict[str, str]) -> dict[str, dict[str, str]]:
    """Code suggestions from the distinct values the file holds in each column mapped to a coded one.

    A value already written as the vocabulary writes it needs no entry; a value like no code
    ("unknown") gets none, and validation will name it.
    """
    codes: dict[str, dict[str, str]] = {}
    for index, header in enumerate(sheet.header):
        name = columns.get(header, IGNORE)
        if name not in BY_NAME or not (BY_NAME[name].codes or name == "time_point"):
            continue
        seen: set[str] = set()
        for _number, cells in sheet.rows:
            text = cells[index].strip() if index < len(cells) else ""
            if text:
                seen.add(text)
                if len(seen) > MAX_DISTINCT_CODES:
                    break
        table = {}
        for text in sorted(seen)[:MAX_DISTINCT_CODES]:
            ours = suggest_event(text) if name == "time_point" else suggest_code(name, text)
            if ours and ours.lower() != text.lower():
                table[text] = ours
        if table:
            codes[name] = table
    return codes


def suggest_mapping(sheet: Sheet) -> dict:
    """A mapping suggested from an uploaded file alone: its headers, then its values."""
    columns = suggest_columns(sheet.header)
    return {"columns": columns, "codes": suggest_codes(sheet, columns), "date_format": "", "record_column": ""}


def _parse_date(text: str, date_format: str) -> str:
    try:
        return dt.datetime.strptime(text, date_format).date().isoformat()  # noqa: DTZ007 - a civil date
    except ValueError:
        return text  # left as typed: validation reports it in words


def apply_mapping(
    sheet: Sheet,
    *,
    columns: dict[str, str],
    codes: dict[str, dict[str, str]],
    date_format: str = "",
    record_column: str = "",
) -> Sheet:
    """The sheet in the template's columns: renamed, recoded, dates rewritten, records filled down.

    A file column mapped to nothing is left out; a code with no translation stays as typed (and
    is reported by validation if it is not a vocabulary code).
    """
    positions = [(index, columns.get(header, IGNORE)) for index, header in enumerate(sheet.header)]
    kept = [(index, name) for index, name in positions if name in BY_NAME]
    record_index = sheet.header.index(record_column) if record_column in sheet.header else None
    header = [name for _index, name in kept]
    date_columns = {
        name
        for name in header
        if BY_NAME[name].field is not None
        and BY_NAME[name].field.get_internal_type() == "DateField"
        or name in ("lot_expires_on", "withdrawn_on", "answered_on")
    }
    lowered = {name: {_key(k): v for k, v in table.items()} for name, table in codes.items()}
    filled = [position for position, name in enumerate(header) if BY_NAME[name].record in FILLED_RECORDS]
    first_of: dict[str, list[str]] = {}
    out = Sheet(header=header)
    for number, cells in sheet.rows:
        row = []
        for index, name in kept:
            text = cells[index] if index < len(cells) else ""
            if text and name in lowered:
                text = lowered[name].get(_key(text), text)
            if text and date_format and name in date_columns:
                text = _parse_date(text, date_format)
            row.append(text)
        if record_index is not None:
            record = cells[record_index] if record_index < len(cells) else ""
            first = first_of.setdefault(record, row)
            if first is not row:
                for position in filled:
                    if not row[position]:
                        row[position] = first[position]
        out.rows.append((number, row))
    return out


# --- REDCap -------------------------------------------------------------------------------------------

DICTIONARY_FIELD = "Variable / Field Name"
DICTIONARY_TYPE = "Field Type"
DICTIONARY_LABEL = "Field Label"
DICTIONARY_CHOICES = "Choices, Calculations, OR Slider Labels"


def _redcap_choices(text: str) -> list[tuple[str, str]]:
    """REDCap's "1, Vertebroplasty | 2, Kyphoplasty" as [("1", "Vertebroplasty"), ...]."""
    pairs = []
    for part in (text or "").split("|"):
        code, _, label = part.partition(",")
        if code.strip():
            pairs.append((code.strip(), label.strip()))
    return pairs


def redcap_preset(dictionary: bytes, events: list[str] | None = None) -> dict:
    """A mapping suggested from a REDCap data dictionary (CSV): columns, codes, record column.

    Raw exports write dates as YYYY-MM-DD and choices as their codes; the dictionary's labels say
    what each code means, which is what the suggestions compare with the vocabularies. Events
    (``redcap_event_name``) become time points by similarity ("3_months_arm_1" → m3).
    """
    sheet = read_csv(dictionary)
    try:
        field_at = sheet.header.index(DICTIONARY_FIELD)
        type_at = sheet.header.index(DICTIONARY_TYPE)
        label_at = sheet.header.index(DICTIONARY_LABEL)
        choices_at = sheet.header.index(DICTIONARY_CHOICES)
    except ValueError:
        raise UnreadableFile("This is not a REDCap data dictionary (its columns are missing).") from None
    if len(sheet.rows) > MAX_COLUMNS:
        raise UnreadableFile(f"The data dictionary has more than {MAX_COLUMNS} fields.")
    columns: dict[str, str] = {}
    codes: dict[str, dict[str, str]] = {}
    record_column = ""
    taken: set[str] = set()
    for _number, cells in sheet.rows:
        cells = cells + [""] * (len(sheet.header) - len(cells))
        field_name, field_type, label = cells[field_at], cells[type_at], cells[label_at][:MAX_CELL_CHARS]
        if not record_column:
            record_column = field_name  # REDCap's first field is the record id
            continue
        name = suggest_column(field_name, label)
        if not name or name in taken:
            continue
        taken.add(name)
        columns[field_name] = name
        if field_type == "yesno":
            codes[name] = {"1": "yes", "0": "no"}
        elif field_type in ("radio", "dropdown"):
            table = {}
            for code, choice_label in _redcap_choices(cells[choices_at]):
                ours = suggest_code(name, code, choice_label) if BY_NAME[name].codes else ""
                if ours:
                    table[code] = ours
            if table:
                codes[name] = table
    columns[REDCAP_EVENT] = "time_point"
    event_codes = {}
    for event in events or ():
        ours = suggest_event(event)
        if ours:
            event_codes[event] = ours
    if event_codes:
        codes["time_point"] = event_codes
    return {"columns": columns, "codes": codes, "date_format": "%Y-%m-%d", "record_column": record_column}


EVENT_HINTS = {"baseline": "baseline", "enrol": "baseline", "week": "early", "early": "early", "3month": "m3"}
EVENT_HINTS.update({"3m": "m3", "12month": "m12", "12m": "m12", "1year": "m12", "year": "m12"})


def suggest_event(event: str) -> str:
    """A REDCap unique event name ("3_months_arm_1") as a protocol time point ("m3")."""
    key = _key(re.sub(r"_arm_\d+$", "", event))
    for hint in sorted(EVENT_HINTS, key=len, reverse=True):
        if hint in key:
            return EVENT_HINTS[hint]
    return ""


def events_in(sheet: Sheet) -> list[str]:
    """The distinct ``redcap_event_name`` values of a parsed raw export."""
    if REDCAP_EVENT not in sheet.header:
        return []
    at = sheet.header.index(REDCAP_EVENT)
    return sorted({cells[at] for _number, cells in sheet.rows if at < len(cells)} - {""})
