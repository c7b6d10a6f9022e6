"""The Spanish catalogue is complete and its committed .mo is compiled from the .po."""

import re
from pathlib import Path

from django.conf import settings
from django.utils import translation

PO = Path(settings.BASE_DIR) / "locale" / "es" / "LC_MESSAGES" / "django.po"
ENTRY = re.compile(r'^msgid ((?:".*"\n)+)msgstr ((?:".*"\n)+)', re.M)


def unquote(lines: str) -> str:
    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', lines)).replace('\\"', '"').replace("\\n", "\n")


def catalogue() -> dict[str, str]:
    return {unquote(mid): unquote(mstr) for mid, mstr in ENTRY.findall(PO.read_text(encoding="utf-8")) if unquote(mid)}


def test_every_message_has_a_spanish_translation():
    untranslated = [mid for mid, mstr in catalogue().items() if not mstr]
    assert untranslated == []


def test_the_compiled_catalogue_matches_the_po_file():
    # If this fails, run: msgfmt --check -o locale/es/LC_MESSAGES/django.mo locale/es/LC_MESSAGES/django.po
    with translation.override("es"):
        stale = [mid for mid, mstr in catalogue().items() if translation.gettext(mid) != mstr]
    assert stale == []
