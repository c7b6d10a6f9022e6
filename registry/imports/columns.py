"""The columns of the legacy-series template: one row per treated level.

Patient columns repeat on every row of the patient, procedure columns on every row of the
procedure. Each row has a natural key, which is what makes a second import of the same file
create nothing:

- **patient**: site (chosen at upload) + ``mrn``;
- **procedure**: patient + ``performed_on`` + ``procedure_type``;
- **treated level**: procedure + ``level``.

A row may stop early: with no ``level`` it records only the procedure, with no ``performed_on``
only the patient. Column names are the field names of the registry (headers are matched ignoring
case and spaces); values may be the code (``PVP``) or the label (``Percutaneous vertebroplasty``).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models

from registry.patients.models import Patient
from registry.patients.services import CONSENT_FIELDS, PATIENT_EDITABLE_FIELDS
from registry.procedures.models import (
    CementLeak,
    LeakDetection,
    LeakLocation,
    Procedure,
    TreatedLevel,
    VertebralLevel,
)
from registry.procedures.services import PROCEDURE_EDITABLE_FIELDS

PATIENT, PROCEDURE, LEVEL, CEMENT, LEAKS = "patient", "procedure", "level", "cement", "leaks"

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
        "asymptomatic cement leaks at this level, locations separated by ';' (one of: "
        + ", ".join(LeakLocation.values)
        + "); symptomatic leaks are entered on the case screen with their complication",
    ),
    Column(
        "leak_detected_by",
        LEAKS,
        CementLeak._meta.get_field("detected_by"),
        "how the leaks were seen, one for all or one per leak separated by ';' (one of: "
        + ", ".join(LeakDetection.values)
        + ")",
    ),
]
BY_NAME = {column.name: column for column in COLUMNS}
HEADER = [column.name for column in COLUMNS]


def normalise_header(text) -> str:
    return "_".join(str(text or "").strip().lower().replace("-", " ").split())
