"""Instrument wording files: complete in English and Spanish, checked before use."""

import json

import pytest

from registry.followup.instruments import (
    FOLLOWUP_OPTION_CODES,
    INSTRUMENT_CODES,
    INSTRUMENTS_DIR,
    InstrumentError,
    instrument_text,
    load_instrument,
    localize,
    validate_instrument,
)
from registry.followup.scoring import ODI_SECTIONS, RED_FLAG_CODES


@pytest.fixture
def site_dir(tmp_path):
    """A site's own instrument folder, starting as a copy of the shipped files."""
    for code in INSTRUMENT_CODES:
        (tmp_path / f"{code}.json").write_text(
            (INSTRUMENTS_DIR / f"{code}.json").read_text(encoding="utf-8"),
            encoding="utf-8",
        )
    return tmp_path


def write(directory, data):
    path = directory / f"{data['code']}.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


@pytest.mark.parametrize("code", INSTRUMENT_CODES)
def test_shipped_instrument_is_valid_in_english_and_spanish(code):
    data = load_instrument(code)

    assert data["code"] == code
    assert {"en", "es"} <= set(data["languages"])
    assert data["licence_note"]


def test_shipped_odi_has_ten_sections_with_options_0_to_5_in_both_languages():
    odi = load_instrument("odi")

    assert [section["code"] for section in odi["sections"]] == list(ODI_SECTIONS)
    for section in odi["sections"]:
        assert [option["value"] for option in section["options"]] == [0, 1, 2, 3, 4, 5]
        for option in section["options"]:
            assert option["text"]["en"].strip()
            assert option["text"]["es"].strip()
            assert option["text"]["en"] != option["text"]["es"]


def test_shipped_odi_wording_is_marked_as_a_placeholder_to_replace():
    odi = load_instrument("odi")

    assert odi["placeholder"] is True
    assert "PLACEHOLDER" in odi["licence_note"]
    assert "licensed" in odi["licence_note"]


def test_shipped_red_flags_match_the_scored_codes():
    items = load_instrument("red_flags")["items"]

    assert tuple(item["code"] for item in items) == RED_FLAG_CODES


def test_shipped_followup_questions_ask_fracture_osteoporosis_therapy_and_analgesics():
    questions = load_instrument("followup_questions")["questions"]

    assert [question["code"] for question in questions] == [
        "new_fracture",
        "osteoporosis_therapy",
        "analgesic_use",
    ]
    for question in questions:
        codes = tuple(option["code"] for option in question["options"])
        assert codes == FOLLOWUP_OPTION_CODES[question["code"]]


def test_vas_asks_average_back_pain_over_the_last_week():
    vas = instrument_text("vas", "en")

    assert "last week" in vas["question"]
    assert vas["anchors"]["min"]["value"] == 0
    assert vas["anchors"]["max"]["value"] == 10


def test_instrument_text_gives_spanish_wording():
    odi = instrument_text("odi", "es")

    assert odi["sections"][3]["title"] == "Caminar"
    assert odi["sections"][0]["options"][0]["text"] == "Ahora mismo no tengo dolor."


def test_instrument_text_uses_the_primary_language_of_a_regional_code():
    assert instrument_text("vas", "es-MX")["title"] == "Dolor de espalda"


def test_instrument_text_falls_back_to_english_for_a_language_the_file_lacks():
    assert instrument_text("red_flags", "fr")["items"][0]["text"] == "Fever or chills"


def test_localize_falls_back_to_english_for_a_missing_or_empty_translation():
    assert localize({"en": "Walking"}, "es") == "Walking"
    assert localize({"en": "Walking", "es": ""}, "es") == "Walking"


def test_localize_without_english_is_an_error():
    with pytest.raises(KeyError):
        localize({"es": "Caminar"}, "fr")


def test_loaded_instrument_is_a_copy_the_caller_cannot_corrupt():
    load_instrument("vas")["title"]["en"] = "changed"

    assert load_instrument("vas")["title"]["en"] == "Back pain"


def test_unknown_instrument_code_is_refused_before_reading_a_file():
    with pytest.raises(ValueError, match="Unknown instrument"):
        load_instrument("../settings")


def test_site_replacement_file_is_used_from_its_directory(site_dir):
    odi = json.loads((site_dir / "odi.json").read_text(encoding="utf-8"))
    odi["sections"][0]["options"][0]["text"]["en"] = "Licensed wording"
    odi["placeholder"] = False
    write(site_dir, odi)

    loaded = load_instrument("odi", site_dir)

    assert loaded["sections"][0]["options"][0]["text"]["en"] == "Licensed wording"


def test_replacement_odi_missing_a_section_is_refused(site_dir):
    odi = load_instrument("odi")
    del odi["sections"][7]
    write(site_dir, odi)

    with pytest.raises(InstrumentError, match="sections must be"):
        load_instrument("odi", site_dir)


def test_replacement_odi_missing_an_option_is_refused():
    odi = load_instrument("odi")
    odi["sections"][2]["options"].pop()

    with pytest.raises(InstrumentError, match=r"sections\['lifting'\].options values"):
        validate_instrument(odi)


def test_replacement_odi_missing_a_spanish_option_is_refused():
    odi = load_instrument("odi")
    del odi["sections"][4]["options"][5]["text"]["es"]

    with pytest.raises(InstrumentError) as error:
        validate_instrument(odi)

    assert error.value.problems == ["sections['sitting'].options[5]: no 'es' text"]


def test_replacement_odi_with_boolean_option_value_is_refused():
    odi = load_instrument("odi")
    odi["sections"][0]["options"][1]["value"] = True

    with pytest.raises(InstrumentError):
        validate_instrument(odi)


def test_replacement_odi_without_licence_note_is_refused():
    odi = load_instrument("odi")
    del odi["licence_note"]

    with pytest.raises(InstrumentError, match="licence_note"):
        validate_instrument(odi)


def test_replacement_without_english_is_refused():
    vas = load_instrument("vas")
    vas["languages"] = ["es"]

    with pytest.raises(InstrumentError, match="must include 'en'"):
        validate_instrument(vas)


def test_replacement_with_an_extra_language_must_translate_every_text():
    vas = load_instrument("vas")
    vas["languages"].append("ca")
    vas["title"]["ca"] = "Mal d'esquena"

    with pytest.raises(InstrumentError) as error:
        validate_instrument(vas)

    assert "question: no 'ca' text" in error.value.problems


def test_replacement_red_flags_cannot_rename_a_flag():
    red_flags = load_instrument("red_flags")
    red_flags["items"][0]["code"] = "fever"

    with pytest.raises(InstrumentError, match="items must be"):
        validate_instrument(red_flags)


def test_replacement_followup_questions_cannot_recode_an_option():
    questions = load_instrument("followup_questions")
    questions["questions"][2]["options"][2]["code"] = "strong"

    with pytest.raises(InstrumentError, match="analgesic_use"):
        validate_instrument(questions)


def test_file_holding_another_instrument_is_refused(site_dir):
    (site_dir / "odi.json").write_text((site_dir / "vas.json").read_text(encoding="utf-8"), encoding="utf-8")

    with pytest.raises(InstrumentError, match=r"odi\.json holds instrument 'vas'"):
        load_instrument("odi", site_dir)


@pytest.mark.parametrize("data", [[], {"code": "sf36"}, {}])
def test_not_an_instrument_is_refused(data):
    with pytest.raises(InstrumentError):
        validate_instrument(data)
