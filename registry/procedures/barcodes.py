"""Cement kit barcodes: GS1 element strings (parsed by ``biip``) and HIBC.

A keyboard-wedge scanner "types" the barcode into the form. Depending on its setup that arrives
as the human-readable form ``(01)05012345678900(17)271231(10)AB12345``, as the raw form with a
symbology identifier (``]C1``/``]d2``) and GS (0x1d) separators for FNC1, or with the GS shown
as ``<GS>``. HIBC (``+A123BJC5D6E71/$$3271231AB12345X``) is parsed here because biip does not.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from biip import ParseError
from biip.gs1_messages import GS1Message

GS = "\x1d"
# What scanners and terminals make of FNC1 / GS when they cannot type 0x1d. None of these
# characters is allowed in a GS1 lot number (GS1 character set 82), so they cannot be data.
_GS_STAND_INS = ("<GS>", "[GS]", "{GS}", "\u241d", "^]", "|", "~")
_SYMBOLOGY_IDENTIFIER = re.compile(r"^\][A-Za-z][0-9A-Za-z]")
_HIBC_CHARSET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-. $/+%"


class BarcodeError(ValueError):
    """The text is not a GS1 or HIBC kit barcode we can read; the message says why."""


@dataclass(frozen=True)
class ScannedKit:
    symbology: str  # "gs1" or "hibc"
    gtin: str = ""
    hibc_labeler_product: str = ""
    lot_number: str = ""
    expires_on: dt.date | None = None


def parse_kit_barcode(raw: str) -> ScannedKit:
    text = (raw or "").strip()
    if not text:
        raise BarcodeError("The scan is empty.")
    text = _SYMBOLOGY_IDENTIFIER.sub("", text)
    if text.startswith("+"):
        return parse_hibc(text)
    return parse_gs1(text)


def parse_gs1(text: str) -> ScannedKit:
    try:
        if text.lstrip().startswith("("):
            message = GS1Message.parse_hri(text)
        else:
            for stand_in in _GS_STAND_INS:
                text = text.replace(stand_in, GS)
            message = GS1Message.parse(text.strip(GS))
    except ParseError as exc:
        raise BarcodeError(f"Not a readable GS1 barcode: {exc}") from None
    gtin = message.element_strings.get(ai="01")
    expiry = message.element_strings.get(ai="17")
    lot = message.element_strings.get(ai="10")
    if gtin is None:
        raise BarcodeError("The GS1 barcode has no product number (AI 01, GTIN).")
    if gtin.gtin_error:
        raise BarcodeError(f"Not a readable GS1 barcode: {gtin.gtin_error}")
    return ScannedKit(
        symbology="gs1",
        gtin=gtin.value,
        lot_number=lot.value if lot else "",
        expires_on=expiry.date if expiry else None,
    )


# --- HIBC (ANSI/HIBC 2.6) -------------------------------------------------------------------


def _hibc_check_character(data: str) -> str:
    return _HIBC_CHARSET[sum(_HIBC_CHARSET.index(c) for c in data) % 43]


def _hibc_secondary(secondary: str) -> tuple[str, dt.date | None]:
    """Lot and expiry from an HIBC secondary data string (without the check character)."""

    def yymmdd(s):
        return dt.date(2000 + int(s[0:2]), int(s[2:4]), int(s[4:6]))

    def yyjjj(s):
        return dt.date(2000 + int(s[0:2]), 1, 1) + dt.timedelta(days=int(s[2:5]) - 1)

    if secondary.startswith("$$"):
        body = secondary[2:]
        if body[:1] in "89":  # quantity prefix: 2 or 5 digits, then a normal $$ body
            body = body[3:] if body[0] == "8" else body[6:]
        kind = body[:1]
        if kind == "2":
            return body[7:], dt.date(2000 + int(body[5:7]), int(body[1:3]), int(body[3:5]))
        if kind == "3":
            return body[7:], yymmdd(body[1:7])
        if kind == "4":
            return body[9:], yymmdd(body[1:7])
        if kind == "5":
            return body[6:], yyjjj(body[1:6])
        if kind == "6":
            return body[8:], yyjjj(body[1:6])
        if kind == "7":
            return body[1:], None
        # MMYY then lot: the month's last day is the expiry.
        month, year = int(body[0:2]), 2000 + int(body[2:4])
        first_of_next = dt.date(year + month // 12, month % 12 + 1, 1)
        return body[4:], first_of_next - dt.timedelta(days=1)
    if secondary.startswith("$"):
        return secondary[1:], None
    if re.match(r"^\d{5}", secondary):
        return secondary[5:], yyjjj(secondary[:5])
    raise BarcodeError("Unrecognised HIBC secondary data.")


def parse_hibc(text: str) -> ScannedKit:
    text = text.strip().upper()
    if any(c not in _HIBC_CHARSET for c in text):
        raise BarcodeError("Not a readable HIBC barcode: unexpected characters.")
    body, check = text[:-1], text[-1:]
    if len(text) < 7 or _hibc_check_character(body) != check:
        raise BarcodeError("Not a readable HIBC barcode: the check character does not match.")
    primary, _, secondary = body[1:].partition("/")
    if not secondary and primary.startswith("$"):
        # A secondary-only label: lot and expiry without the product.
        lot, expires_on = _hibc_secondary(primary)
        return ScannedKit(symbology="hibc", lot_number=lot, expires_on=expires_on)
    if not re.match(r"^[A-Z][A-Z0-9]{3}[A-Z0-9]{1,18}\d$", primary):
        raise BarcodeError("Not a readable HIBC barcode: the primary data is malformed.")
    try:
        lot, expires_on = _hibc_secondary(secondary) if secondary else ("", None)
    except ValueError as exc:
        raise BarcodeError(f"Not a readable HIBC barcode: {exc}") from None
    # The last digit of the primary data is the unit of measure, not part of the product code.
    return ScannedKit(symbology="hibc", hibc_labeler_product=primary[:-1], lot_number=lot, expires_on=expires_on)


def hibc_encode(labeler_product: str, unit: int = 1, lot: str = "", expires_on: dt.date | None = None) -> str:
    """Build an HIBC concatenated string (for tests and demo labels)."""
    body = f"+{labeler_product}{unit}"
    if lot or expires_on:
        body += "/$$3" + (expires_on.strftime("%y%m%d") if expires_on else "") + lot if expires_on else f"/${lot}"
    return body + _hibc_check_character(body)
