"""The columns of the legacy-series template: one row per treated level.

Patient columns repeat on every row of the patient, procedure columns on every row of the
procedure. Each row has a natural key, which is what makes a second import of the same file
create nothing:

- **patient**: site (chosen at upload) + ``mrn``;
- **procedure**: patient + ``performed_on`` + ``procedure_type``;
- **treated level**: procedure + ``level``.

A row may stop early: with no ``level`` it records only the procedure, with no ``performed_on``
only the patient.

Survey answers are in long format: a row with a ``time_point`` (a protocol event code such as
``m3``) carries that procedure's answers at that time point — VAS and each ODI section, or only
an ODI total where only the total was kept (imported flagged as total-only: a percent without
sections) — with the date answered and how (paper, phone, clinic, or the emailed link).
Answers may share a row with a level, or sit on their own rows (repeating the patient and
procedure columns); two rows of the same procedure and time point are merged.

``withdrawn_on`` (with ``consent_status`` withdrawn) and ``deceased_on`` date what ended the
follow-up: the history of each imported procedure is rebuilt from them (imports/history.py).

Bone health at entry (last DXA, lowest T-score, therapy, calcium / vitamin D) is in the patient
columns; the bone-health actions after a procedure (DXA, osteoporosis therapy, falls-clinic and
physiotherapy referrals) are ``bone_<kind>_status`` and ``bone_<kind>_on`` on the procedure's rows,
with the DXA's T-score and the therapy's drug. Column names are the field names of the registry (headers are matched ignoring
case and spaces); values may be the code (``PVP``) or the label (``Percutaneous vertebroplasty``).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models

from registry.followup.models import ResponseSource, SurveyResponse
from registry.followup.scoring import ODI_SECTIONS
from registry.patients.models import BoneHealthAction, BoneHealthActionKind, Patient
from registry.patients.services import CONSENT_FIELDS, PATIENT_EDITABLE_FIELDS
from registry.procedures.models import (
    CementLeak,
    Complication,
    LeakDetection,
    LeakLocation,
    LeakSize,
    Procedure,
    TreatedLevel,
    VertebralLevel,
    YeomPathway,
)
from registry.procedures.services import PROCEDURE_EDITABLE_FIELDS

PATIENT, PROCEDURE, LEVEL, CEMENT, LEAKS = "patient", "procedure", "level", "cement", "leaks"
# Dates that end follow-up but are not patient fields (consent events hold the withdrawal).
HISTORY = "history"
ANSWER = "answer"
COMPLICATION = "complication"
BONE = "bone"
# Per-leak details: one value for every leak of the row, or one per leak (';'), in order.
LEAK_DETAILS = ("leak_detected_by", "leak_size", "leak_pathway")
# Template column -> Complication field; a row holds at most one complication.
COMPLICATION_COLUMNS = {
    "complication_type": "complication_type",
    "complication_onset_on": "onset_on",
    "complication_found_at": "found_at",
    "complication_severity": "severity",
    "complication_management": "management",
    "complication_outcome": "outcome",
    "complication_resolved_on": "resolved_on",
}
COMPLICATION_REQUIRED = ("complication_type", "complication_onset_on", "complication_found_at", "complication_severity")
ODI_COLUMNS = {f"odi_{code}": code for code in ODI_SECTIONS}
# Template column -> (BoneHealthAction kind, field): the procedure's bone-health actions after it,
# at most one of each kind (the registry's rule), a status and a date for every kind.
BONE_COLUMNS = {
    **{
        f"bone_{kind}_{suffix}": (kind, field_name)
        for kind in BoneHealthActionKind.values
        for suffix, field_name in (("status", "status"), ("on", "done_on"))
    },
    "bone_dxa_t_score": (BoneHealthActionKind.DXA.value, "t_score"),
    "bone_osteoporosis_therapy_drug": (BoneHealthActionKind.OSTEOPOROSIS_THERAPY.value, "therapy"),
}

LEVEL_FIELDS = (
    "level",
    "approach",
    "needle_gauge",
    "viscosity",
    "injection_phase",
    "cement_volume_ml",
    "vertebral_body_volume_cc",
    "height_loss_percent",
    "kyphotic_angle_deg",
    "posterior_wall_intact",
    "intravertebral_cleft",
    "balloon_inflated",
    "height_restored",
)
# Patient death is history a legacy series holds; the live screens record it with its own action.
PATIENT_FIELDS = (*PATIENT_EDITABLE_FIELDS, *CONSENT_FIELDS, "deceased_on")

# Required whenever the row reaches that record (a patient-only row needs no procedure columns).
REQUIRED = {
    PATIENT: ("mrn", "given_name", "family_name", "date_of_birth", "sex"),
    PROCEDURE: ("performed_on", "operator", "procedure_type", "indication", "anaesthesia", "guidance"),
    LEVEL: ("level", "approach", "cement_volume_ml", "cement_product", "lot_number"),
}
KEY_COLUMNS = ("mrn", "performed_on", "procedure_type", "level")
ANSWER_REQUIRED = ("answered_on", "answer_source")


@dataclass(frozen=True)
class Column:
    name: str
    record: str
    field: models.Field | None
    help: str

    @property
    def required(self) -> bool:
        return self.name in REQUIRED.get(self.record if self.record != CEMENT else LEVEL, ())

    @property
    def codes(self) -> list[str]:
        """The codes a cell may hold (the template's drop-down); empty for free values."""
        if self.field is None:
            return []
        if self.name == "level":
            return list(VertebralLevel.names)
        if isinstance(self.field, models.BooleanField):
            return ["yes", "no"]
        return [str(value) for value, _label in self.field.flatchoices if value != ""]

    @property
    def multiple(self) -> bool:
        """Several codes separated by ';' (no drop-down can offer those)."""
        return self.record == LEAKS


def _describe(field: models.Field) -> str:
    if field.choices:
        return "one of: " + ", ".join(str(value) for value, _label in field.flatchoices if value != "")
    if isinstance(field, models.DecimalField):
        return f"number, at most {field.decimal_places} decimal(s)"
    return {
        "DateField": "date, YYYY-MM-DD or DD/MM/YYYY",
        "BooleanField": "yes / no",
        "PositiveIntegerField": "whole number",
        "PositiveSmallIntegerField": "whole number",
        "EmailField": "email address",
    }.get(field.get_internal_type(), "text")


def _model_columns(record: str, model, names) -> list[Column]:
    columns = []
    for name in names:
        field = model._meta.get_field(name)
        columns.append(Column(name, record, field, f"{field.verbose_name}: {_describe(field)}"))
    return columns


def _bone_help(name: str, kind: str, field_name: str) -> str:
    field = BoneHealthAction._meta.get_field(field_name)
    label = BoneHealthActionKind(kind).label
    if field_name == "done_on":
        return f"{label}: date done, YYYY-MM-DD or DD/MM/YYYY (a date alone means done)"
    return f"{label}: {field.verbose_name}, {_describe(field)}"


def _complication_help(name: str, field_name: str) -> str:
    field = Complication._meta.get_field(field_name)
    return f"complication {field.verbose_name} (one complication per row; the row's level if any): {_describe(field)}"


COLUMNS: list[Column] = [
    *_model_columns(PATIENT, Patient, PATIENT_FIELDS),
    *_model_columns(PROCEDURE, Procedure, PROCEDURE_EDITABLE_FIELDS),
    *_model_columns(LEVEL, TreatedLevel, LEVEL_FIELDS),
    Column("cement_product", CEMENT, None, "cement product: its GTIN (14 digits) or brand as in the catalogue"),
    Column("lot_number", CEMENT, None, "cement lot number as printed on the kit"),
    Column("lot_expires_on", CEMENT, None, "lot expiry date, YYYY-MM-DD or DD/MM/YYYY"),
    Column(
        "leaks",
        LEAKS,
        CementLeak._meta.get_field("location"),
        "cement leaks at this level, locations separated by ';' (one of: "
        + ", ".join(LeakLocation.values)
        + "); a symptomatic leak is named again in complication_leak on its complication's row",
    ),
    Column(
        "leak_detected_by",
        LEAKS,
        CementLeak._meta.get_field("detected_by"),
        "how the leaks were seen, one for all or one per leak separated by ';' (one of: "
        + ", ".join(LeakDetection.values)
        + ")",
    ),
    Column(
        "leak_size",
        LEAKS,
        CementLeak._meta.get_field("size_grade"),
        "leak size grade, one for all or one per leak separated by ';' (one of: " + ", ".join(LeakSize.values) + ")",
    ),
    Column(
        "leak_pathway",
        LEAKS,
        CementLeak._meta.get_field("pathway"),
        "Yeom pathway, one for all or one per leak separated by ';' (one of: " + ", ".join(YeomPathway.values) + ")",
    ),
    *(
        Column(name, COMPLICATION, Complication._meta.get_field(field_name), _complication_help(name, field_name))
        for name, field_name in COMPLICATION_COLUMNS.items()
    ),
    Column(
        "complication_leak",
        COMPLICATION,
        CementLeak._meta.get_field("location"),
        "the leak of this row's level that caused the complication (a symptomatic leak): its location, "
        "also listed in leaks",
    ),
    *(
        Column(name, BONE, BoneHealthAction._meta.get_field(field_name), _bone_help(name, kind, field_name))
        for name, (kind, field_name) in BONE_COLUMNS.items()
    ),
    Column(
        "withdrawn_on",
        HISTORY,
        None,
        "date consent was withdrawn, YYYY-MM-DD or DD/MM/YYYY (with consent_status withdrawn): later windows are censored",
    ),
    Column(
        "time_point",
        ANSWER,
        None,
        "survey time point of this row's answers: a protocol event code (baseline, early, m3, m12); "
        "one row per procedure and time point",
    ),
    Column(
        "answered_on",
        ANSWER,
        SurveyResponse._meta.get_field("collected_on"),
        "date the survey was answered, YYYY-MM-DD or DD/MM/YYYY",
    ),
    Column(
        "answer_source",
        ANSWER,
        SurveyResponse._meta.get_field("source"),
        "how the answers were collected, one of: " + ", ".join(ResponseSource.values),
    ),
    Column("vas", ANSWER, SurveyResponse._meta.get_field("vas"), "VAS pain 0–10, at most one decimal (comma or point)"),
    *(Column(name, ANSWER, None, f"ODI section {code.replace('_', ' ')}: 0–5") for name, code in ODI_COLUMNS.items()),
    Column(
        "odi_total",
        ANSWER,
        None,
        "ODI % (0–100, one decimal) where only the total was kept: stored flagged total only (odi_total_only); "
        "leave the sections empty",
    ),
]
BY_NAME = {column.name: column for column in COLUMNS}
HEADER = [column.name for column in COLUMNS]


def normalise_header(text) -> str:
    return "_".join(str(text or "").strip().lower().replace("-", " ").split())
