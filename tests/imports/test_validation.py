"""Cell rules of ``validation.py`` that the file-level tests do not reach one by one."""

from __future__ import annotations

import datetime as dt

import pytest

from registry.imports.validation import DATE_FORMATS, parse_date


def read_by_strptime(text: str) -> dt.date:
    """The dates as every format was read before the ISO shortcut."""
    for fmt in DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()  # noqa: DTZ007 - a civil date
        except ValueError:
            continue
    raise ValueError("Not a date: write it as YYYY-MM-DD or DD/MM/YYYY.")


def outcome(read, text: str):
    try:
        return read(text)
    except Exception as exc:  # noqa: BLE001 - the message is what is compared
        return ("refused", str(exc))


@pytest.mark.parametrize(
    "text",
    [
        "2024-02-29",
        "2023-02-29",
        "0000-01-01",
        "0999-12-31",
        "2024-13-01",
        "2024-00-10",
        "2024-1-05",
        "20240105",
        " 2024-01-05",
        "2024-01-05 ",
        "\u0661\u0669\u0665\u0660-01-01",
        "31/12/2024",
        "31-12-2024",
        "2024/12/31",
        "31.12.2024",
        "",
    ],
)
def test_a_date_reads_as_strptime_reads_it(text):
    assert outcome(parse_date, text) == outcome(read_by_strptime, text)
