"""Instrument wording as data.

Each instrument is a JSON file in this directory that an administrator can replace
with the wording the site has licensed (the ODI wording shipped here is a placeholder).
Scoring lives in `registry.followup.scoring`; these files carry only text, so the codes
and values they use are checked against the scoring module before a file is used.

A text is an object mapping language codes to strings, e.g.
{"en": "Walking", "es": "Caminar"}. Every text must have every language the file
declares in "languages", which must include English; a language the file does not
declare falls back to English.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from registry.followup.scoring import ODI_MAX_PER_SECTION, ODI_SECTIONS, RED_FLAG_CODES

DEFAULT_LANGUAGE = "en"
INSTRUMENTS_DIR = Path(__file__).resolve().parent
INSTRUMENT_CODES: tuple[str, ...] = ("vas", "odi", "red_flags", "followup_questions")

# Answers are stored as these codes: a replacement file may reword them but not recode.
FOLLOWUP_OPTION_CODES: dict[str, tuple[str, ...]] = {
    "new_fracture": ("yes", "no", "not_sure"),
    "osteoporosis_therapy": ("yes", "no", "not_prescribed", "not_sure"),
    "analgesic_use": ("none", "non_opioid", "opioid", "not_sure"),
}
ODI_OPTION_VALUES: tuple[int, ...] = tuple(range(ODI_MAX_PER_SECTION + 1))


class InstrumentError(ValueError):
    """An instrument file that must not be used; `problems` lists every fault found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("Invalid instrument: " + "; ".join(problems))
        self.problems = problems


def load_instrument(code: str, directory: Path | str | None = None) -> dict[str, Any]:
    """The validated instrument `code` from `directory` (default: this package).

    Files are read once per process; call `clear_instrument_cache()` after replacing
    one. A copy is returned so that a caller cannot change the cached instrument.
    """
    if code not in INSTRUMENT_CODES:
        raise ValueError(f"Unknown instrument {code!r}; expected one of {INSTRUMENT_CODES}.")
    folder = Path(directory).resolve() if directory is not None else INSTRUMENTS_DIR
    return copy.deepcopy(_read_validated(code, folder))


@functools.cache
def _read_validated(code: str, folder: Path) -> dict[str, Any]:
    data = json.loads((folder / f"{code}.json").read_text(encoding="utf-8"))
    validate_instrument(data)
    if data["code"] != code:
        raise InstrumentError([f"{code}.json holds instrument {data['code']!r}"])
    return data


def clear_instrument_cache() -> None:
    _read_validated.cache_clear()


def instrument_text(code: str, lang: str, directory: Path | str | None = None) -> dict[str, Any]:
    """The instrument with each text replaced by its string in `lang` (or English)."""
    return _localize_tree(load_instrument(code, directory), lang)


def localize(text: Mapping[str, str], lang: str) -> str:
    """One text in `lang`; "es-MX" falls back to "es", then to English."""
    for candidate in (
        lang,
        lang.replace("_", "-").split("-")[0].lower(),
        DEFAULT_LANGUAGE,
    ):
        if text.get(candidate):
            return text[candidate]
    raise KeyError(f"Text has no {DEFAULT_LANGUAGE!r} version: {dict(text)!r}")


def _is_text(value: object) -> bool:
    return (
        isinstance(value, dict) and DEFAULT_LANGUAGE in value and all(isinstance(item, str) for item in value.values())
    )


def _localize_tree(value: Any, lang: str) -> Any:
    if _is_text(value):
        return localize(value, lang)
    if isinstance(value, dict):
        return {key: _localize_tree(item, lang) for key, item in value.items()}
    if isinstance(value, list):
        return [_localize_tree(item, lang) for item in value]
    return value


def validate_instrument(data: object) -> dict[str, Any]:
    """Check an instrument, e.g. a replacement file, before use (InstrumentError)."""
    if not isinstance(data, dict):
        raise InstrumentError(["the instrument must be a JSON object"])
    problems: list[str] = []
    code = data.get("code")
    if code not in INSTRUMENT_CODES:
        raise InstrumentError([f"unknown instrument code {code!r}"])
    languages = _check_languages(problems, data.get("languages"))
    if not isinstance(data.get("licence_note"), str) or not data["licence_note"].strip():
        problems.append("licence_note is missing")
    _check_text(problems, "title", data.get("title"), languages)
    _VALIDATORS[code](problems, data, languages)
    if problems:
        raise InstrumentError(problems)
    return data


def _check_languages(problems: list[str], languages: object) -> tuple[str, ...]:
    if (
        not isinstance(languages, list)
        or not all(isinstance(lang, str) and lang for lang in languages)
        or len(set(languages)) != len(languages)
    ):
        problems.append("languages must be a list of distinct language codes")
        return (DEFAULT_LANGUAGE,)
    if DEFAULT_LANGUAGE not in languages:
        problems.append(f"languages must include {DEFAULT_LANGUAGE!r}, the fallback")
    return tuple(languages)


def _check_text(problems: list[str], where: str, text: object, languages: tuple[str, ...]) -> None:
    if not isinstance(text, dict):
        problems.append(f"{where}: text is missing")
        return
    for lang in languages:
        value = text.get(lang)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{where}: no {lang!r} text")


def _check_codes(problems: list[str], where: str, found: list[object], expected: tuple[object, ...]) -> None:
    # Compare types too: JSON true would otherwise pass for the option value 1.
    if [(type(item), item) for item in found] != [(type(item), item) for item in expected]:
        problems.append(f"{where} must be {list(expected)} in that order, found {found}")


def _items(problems: list[str], where: str, value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        problems.append(f"{where} must be a list of objects")
        return []
    return value


def _check_choices(
    problems: list[str],
    where: str,
    options: object,
    key: str,
    expected: tuple[object, ...],
    languages: tuple[str, ...],
) -> None:
    items = _items(problems, f"{where}.options", options)
    _check_codes(problems, f"{where}.options {key}s", [item.get(key) for item in items], expected)
    for item in items:
        _check_text(problems, f"{where}.options[{item.get(key)!r}]", item.get("text"), languages)


def _validate_vas(problems: list[str], data: dict[str, Any], languages: tuple[str, ...]) -> None:
    _check_text(problems, "question", data.get("question"), languages)
    anchors = data.get("anchors")
    if not isinstance(anchors, dict):
        problems.append("anchors must have min and max")
        return
    for name, value in (("min", 0), ("max", 10)):
        anchor = anchors.get(name)
        if not isinstance(anchor, dict) or anchor.get("value") != value:
            problems.append(f"anchors.{name} must have value {value}")
            continue
        _check_text(problems, f"anchors.{name}", anchor.get("text"), languages)


def _validate_odi(problems: list[str], data: dict[str, Any], languages: tuple[str, ...]) -> None:
    _check_text(problems, "instructions", data.get("instructions"), languages)
    sections = _items(problems, "sections", data.get("sections"))
    _check_codes(
        problems,
        "sections",
        [section.get("code") for section in sections],
        ODI_SECTIONS,
    )
    for section in sections:
        where = f"sections[{section.get('code')!r}]"
        _check_text(problems, f"{where}.title", section.get("title"), languages)
        _check_choices(
            problems,
            where,
            section.get("options"),
            "value",
            ODI_OPTION_VALUES,
            languages,
        )


def _validate_red_flags(problems: list[str], data: dict[str, Any], languages: tuple[str, ...]) -> None:
    _check_text(problems, "question", data.get("question"), languages)
    _check_text(problems, "advice_if_any", data.get("advice_if_any"), languages)
    answers = data.get("answers") if isinstance(data.get("answers"), dict) else {}
    for answer in ("yes", "no"):
        _check_text(problems, f"answers.{answer}", answers.get(answer), languages)
    items = _items(problems, "items", data.get("items"))
    _check_codes(problems, "items", [item.get("code") for item in items], RED_FLAG_CODES)
    for item in items:
        _check_text(problems, f"items[{item.get('code')!r}]", item.get("text"), languages)


def _validate_followup_questions(problems: list[str], data: dict[str, Any], languages: tuple[str, ...]) -> None:
    questions = _items(problems, "questions", data.get("questions"))
    found = [question.get("code") for question in questions]
    _check_codes(problems, "questions", found, tuple(FOLLOWUP_OPTION_CODES))
    for question in questions:
        code = question.get("code")
        where = f"questions[{code!r}]"
        _check_text(problems, where, question.get("text"), languages)
        expected = FOLLOWUP_OPTION_CODES.get(code, ()) if isinstance(code, str) else ()
        _check_choices(problems, where, question.get("options"), "code", expected, languages)


_VALIDATORS = {
    "vas": _validate_vas,
    "odi": _validate_odi,
    "red_flags": _validate_red_flags,
    "followup_questions": _validate_followup_questions,
}
