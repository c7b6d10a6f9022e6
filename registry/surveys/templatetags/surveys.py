"""Labels for stored survey codes on the coordinator's pages (the instrument files hold the wording)."""

from __future__ import annotations

from django import template
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from registry.followup import scoring
from registry.followup.instruments import instrument_text

register = template.Library()

ODI_BAND_LABELS = {
    "minimal": _("minimal"),
    "moderate": _("moderate"),
    "severe": _("severe"),
    "crippling": _("crippling"),
    "bed_bound": _("bed-bound"),
}


@register.simple_tag
def patient_survey_responses(patient):
    """The patient's responses for the patient page, in one query (who entered them included)."""
    from registry.followup.models import SurveyResponse

    return SurveyResponse.objects.filter(patient=patient).select_related("entered_by").order_by("collected_on", "id")


@register.filter
def odi_band_label(percent) -> str:
    if percent is None:
        return ""
    return str(ODI_BAND_LABELS[scoring.odi_band(percent)])


@register.filter
def red_flag_label(code: str) -> str:
    items = {item["code"]: item["text"] for item in instrument_text("red_flags", get_language() or "en")["items"]}
    return items.get(code, code)


def _followup_question(code: str) -> dict:
    data = instrument_text("followup_questions", get_language() or "en")
    return next((q for q in data["questions"] if q["code"] == code), {})


@register.filter
def followup_question_label(code: str) -> str:
    labels = {
        "new_fracture": _("New fracture"),
        "osteoporosis_therapy": _("Bone medicine"),
        "analgesic_use": _("Painkillers"),
    }
    return str(labels.get(code, code))


@register.filter
def followup_option_label(value: str, code: str) -> str:
    options = {o["code"]: o["text"] for o in _followup_question(code).get("options", [])}
    return options.get(value, value)
