"""Validate a whole legacy file in bulk and plan what a commit would write. Reads only.

Every cell is parsed by its column's registry field (the same validators as the screens), and a
value seen once is never parsed twice: a 50,000-row series repeats its dates, vocabularies and
volumes, so the work is per distinct value, not per cell. Record rules (age at procedure, consent
date, fracture age, balloon in a vertebroplasty) use the registry's own checks on the assembled
records. The result lists every problem as (row, column, value, rule) in plain words.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.base import ModelState
from django.utils import timezone

from registry.core.numbers import parse_decimal
from registry.followup import scoring
from registry.followup.models import ProtocolEvent, SurveyResponse
from registry.followup.services import protocol_for_site
from registry.imports.columns import (
    ANSWER,
    ANSWER_REQUIRED,
    BONE,
    BONE_COLUMNS,
    BY_NAME,
    CEMENT,
    COMPLICATION,
    COMPLICATION_REQUIRED,
    HISTORY,
    LEAK_DETAILS,
    LEAKS,
    LEVEL,
    ODI_COLUMNS,
    PATIENT,
    PATIENT_FIELDS,
    PROCEDURE,
    REQUIRED,
    Column,
    normalise_header,
)
from registry.imports.plans import (
    AnswerPlan,
    BoneActionPlan,
    ComplicationPlan,
    ImportPlan,
    LeakPlan,
    LevelPlan,
    PatientPlan,
    ProcedurePlan,
    RowError,
    RowNote,
)
from registry.imports.reading import Sheet
from registry.patients.models import (
    AGE_MAX,
    AGE_MIN,
    BoneHealthAction,
    BoneHealthActionStatus,
    ConsentStatus,
    Patient,
    Site,
    age_on,
    validate_karnofsky,
)
from registry.procedures import services as procedure_services
from registry.procedures.models import (
    CementLeak,
    CementProduct,
    Complication,
    Procedure,
    TreatedLevel,
    VertebralLevel,
    normalise_lot_number,
)

DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y/%m/%d")
# The first format, as files and the reader write it: read without strptime (a tenth of its time).
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TRUE = {"yes", "y", "true", "1", "si", "sí", "s", "x"}
_FALSE = {"no", "n", "false", "0"}


# --- Cells --------------------------------------------------------------------------------------------


class _CellError(Exception):
    pass


def _choice(field: models.Field, raw: str):
    lookup = getattr(field, "_import_choice_lookup", None)
    if lookup is None:
        lookup = {}
        for value, label in field.flatchoices:
            lookup[str(value).lower()] = value
            lookup[str(label).lower()] = value
        field._import_choice_lookup = lookup
    try:
        return lookup[raw.lower()]
    except KeyError:
        raise _CellError(
            "Not one of: " + ", ".join(str(v) for v, _label in field.flatchoices if v != "") + "."
        ) from None


def parse_date(raw: str) -> dt.date:
    if _ISO_DATE.fullmatch(raw):
        try:
            return dt.date(int(raw[:4]), int(raw[5:7]), int(raw[8:]))
        except ValueError:
            pass  # Not a calendar date: the formats below say so in the same words.
    for fmt in DATE_FORMATS:
        try:
            return dt.datetime.strptime(raw, fmt).date()  # noqa: DTZ007 - a civil date, no time zone
        except ValueError:
            continue
    raise _CellError("Not a date: write it as YYYY-MM-DD or DD/MM/YYYY.")


def _to_python(field: models.Field, raw: str):
    if field.choices and not isinstance(field, models.IntegerField | models.DecimalField):
        return _choice(field, raw)
    if isinstance(field, models.BooleanField):
        text = raw.lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise _CellError("Write yes or no.")
    if isinstance(field, models.DateField):
        return parse_date(raw)
    if isinstance(field, models.DecimalField):
        try:
            return parse_decimal(raw)
        except ValueError:
            raise _CellError("Not a number.") from None
    if isinstance(field, models.IntegerField):
        if field.choices:
            return _choice(field, raw)
        try:
            number = parse_decimal(raw)
        except ValueError:
            raise _CellError("Not a whole number.") from None
        if number != number.to_integral_value():
            raise _CellError("Not a whole number.")
        return int(number)
    return raw


def _blank(field: models.Field):
    if field.has_default():
        return field.get_default()
    if field.null:
        return None
    return ""


def _parse_field(field: models.Field, raw: str):
    if raw == "":
        return _blank(field)
    value = _to_python(field, raw)
    try:
        return field.clean(value, None)
    except ValidationError as exc:
        raise _CellError(" ".join(exc.messages)) from None


class CellParser:
    """Parses each distinct (column, text) once."""

    def __init__(self, products: dict[str, CementProduct]):
        self.products = products
        self.cache: dict[tuple[str, str], tuple[Any, str | None]] = {}

    def __call__(self, column: Column, raw: str):
        key = (column.name, raw)
        hit = self.cache.get(key)
        if hit is None:
            try:
                hit = (self._parse(column, raw), None)
            except _CellError as exc:
                hit = (None, str(exc))
            self.cache[key] = hit
        return hit

    def _parse(self, column: Column, raw: str):
        if column.name == "level":
            if raw == "":
                return None
            try:
                return int(VertebralLevel.from_label(raw))
            except ValueError:
                raise _CellError("Not a vertebral level: C1–C7, T1–T12, L1–L5 or S1.") from None
        if column.name == "cement_product":
            if raw == "":
                return None
            product = self.products.get(raw.lower()) or self.products.get(raw.zfill(14))
            if product is None:
                raise _CellError("Not in the cement catalogue: give its GTIN or brand as the administrator entered it.")
            return product
        if column.name == "lot_number":
            if raw and not normalise_lot_number(raw):
                raise _CellError("A lot number needs letters or digits.")
            return raw
        if column.name == "lot_expires_on":
            return parse_date(raw) if raw else None
        if column.record == LEAKS:
            parts = [part.strip() for part in raw.split(";") if part.strip()]
            return tuple(_parse_field(column.field, part) for part in parts)
        if raw == "" and column.record in (ANSWER, HISTORY, COMPLICATION, BONE):
            return None
        if column.name in ("withdrawn_on", "answered_on"):
            return parse_date(raw)
        if column.name == "time_point":
            return raw.strip().lower()
        if column.name == "vas":
            try:
                return scoring.vas_validate(parse_decimal(raw))
            except (ValueError, scoring.InvalidScoreError):
                raise _CellError("VAS is a number from 0 to 10 with at most one decimal.") from None
        if column.name in ODI_COLUMNS:
            if raw not in {"0", "1", "2", "3", "4", "5"}:
                raise _CellError("An ODI section is scored 0 to 5.")
            return int(raw)
        if column.name == "odi_total":
            try:
                total = parse_decimal(raw)
            except ValueError:
                raise _CellError("Not a number.") from None
            if not Decimal(0) <= total <= Decimal(100) or total != total.quantize(Decimal("0.1")):
                raise _CellError("The ODI total is a percent from 0 to 100 with at most one decimal.")
            return total
        return _parse_field(column.field, raw)


def product_lookup() -> dict[str, CementProduct]:
    lookup: dict[str, CementProduct] = {}
    for product in CementProduct.objects.filter(active=True):
        lookup[product.brand.lower()] = product
        lookup[f"{product.manufacturer} {product.brand}".lower()] = product
        if product.gtin:
            lookup[product.gtin] = product
    return lookup


# --- The file -------------------------------------------------------------------------------------------


def _header_errors(header: list[str]) -> tuple[dict[str, int], list[RowError]]:
    errors: list[RowError] = []
    positions: dict[str, int] = {}
    for index, text in enumerate(header):
        name = normalise_header(text)
        if not name:
            continue
        if name not in BY_NAME:
            errors.append(RowError(1, str(text), str(text), "Unknown column: use the column names of the template."))
        elif name in positions:
            errors.append(RowError(1, name, str(text), "This column appears twice."))
        else:
            positions[name] = index
    for names in REQUIRED.values():
        for name in names:
            if name not in positions:
                errors.append(RowError(1, name, "", "This column is required and missing from the header."))
    return positions, errors


def plan_import(*, site: Site, sheet: Sheet) -> ImportPlan:
    """Everything a commit would do, and every reason it cannot; writes nothing."""
    plan = ImportPlan(site=site, rows=len(sheet.rows))
    positions, header_errors = _header_errors(sheet.header)
    plan.errors.extend(header_errors)
    if header_errors:
        return plan
    parse = CellParser(product_lookup())
    columns = [(BY_NAME[name], index, name, BY_NAME[name].record) for name, index in positions.items()]
    # The parser's memory of every (column, text) read inline: a file repeats its values, so most
    # cells of a large file are a dictionary look-up, not a call.
    parsed_cells = parse.cache
    patient_rows: dict[str, int] = {}
    level_rows: dict[tuple, int] = {}

    for number, cells in sheet.rows:
        parsed: dict[str, dict[str, Any]] = {
            PATIENT: {},
            PROCEDURE: {},
            LEVEL: {},
            CEMENT: {},
            LEAKS: {},
            HISTORY: {},
            ANSWER: {},
            COMPLICATION: {},
            BONE: {},
        }
        raw_of: dict[str, str] = {}
        row_errors: list[RowError] = []
        width = len(cells)
        for column, index, name, record in columns:
            raw = cells[index] if index < width else ""
            raw_of[name] = raw
            hit = parsed_cells.get((name, raw))
            value, error = parse(column, raw) if hit is None else hit
            if error:
                row_errors.append(RowError(number, name, raw, error))
            else:
                parsed[record][name] = value
        reaches_procedure = bool(raw_of.get("performed_on") or raw_of.get("level"))
        reaches_level = bool(raw_of.get("level"))
        for record, names in REQUIRED.items():
            if record == PROCEDURE and not reaches_procedure or record == LEVEL and not reaches_level:
                continue
            for name in names:
                if raw_of.get(name, "") == "":
                    row_errors.append(RowError(number, name, "", "A value is required."))
        leak_locations = parsed[LEAKS].get("leaks") or ()
        per_leak = {name: parsed[LEAKS].get(name) or () for name in LEAK_DETAILS}
        for name, values in per_leak.items():
            allowed = (1, len(leak_locations)) if name == "leak_detected_by" else (0, 1, len(leak_locations))
            if leak_locations and len(values) not in allowed:
                row_errors.append(RowError(number, name, raw_of.get(name, ""), "Give one value, or one per leak."))
        if any(per_leak.values()) and not leak_locations:
            row_errors.append(RowError(number, "leaks", "", "Give the leak locations these details refer to."))
        if leak_locations and not reaches_level:
            row_errors.append(RowError(number, "leaks", raw_of.get("leaks", ""), "Leaks belong to a treated level."))
        complication = {name: value for name, value in parsed[COMPLICATION].items() if value not in (None, "")}
        row_errors.extend(_complication_row_errors(number, raw_of, complication, leak_locations, reaches_procedure))
        answers = {name: value for name, value in parsed[ANSWER].items() if value is not None}
        time_point = answers.pop("time_point", None)
        if not answers:
            # A time point with nothing answered (a REDCap event row without its survey) is no answer.
            time_point = None
        row_errors.extend(_answer_row_errors(number, raw_of, time_point, answers, reaches_procedure))
        bone = _bone_actions(parsed[BONE])
        row_errors.extend(_bone_row_errors(number, raw_of, bone, reaches_procedure))
        if row_errors:
            plan.errors.extend(row_errors)
            continue

        # The patient, once per MRN: later rows must repeat the same values.
        patient_key = parsed[PATIENT]["mrn"]
        patient = plan.patients.get(patient_key)
        if patient is None:
            plan.patients[patient_key] = patient = PatientPlan(number, parsed[PATIENT])
            patient_rows[patient_key] = number
            patient.history = {k: v for k, v in parsed[HISTORY].items() if v is not None}
        elif _conflicts(plan, number, patient.row, parsed[PATIENT], patient.values, raw_of, "MRN") or _conflicts(
            plan, number, patient.row, parsed[HISTORY], patient.history, raw_of, "MRN"
        ):
            continue
        if not reaches_procedure:
            continue

        procedure_key = (patient_key, parsed[PROCEDURE]["performed_on"], parsed[PROCEDURE]["procedure_type"])
        procedure = plan.procedures.get(procedure_key)
        if procedure is None:
            plan.procedures[procedure_key] = procedure = ProcedurePlan(number, patient_key, parsed[PROCEDURE])
        elif _conflicts(plan, number, procedure.row, parsed[PROCEDURE], procedure.values, raw_of, "procedure"):
            continue
        if time_point:
            answer = plan.answers.get((procedure_key, time_point))
            if answer is None:
                plan.answers[(procedure_key, time_point)] = AnswerPlan(number, procedure_key, time_point, answers)
            elif not _conflicts(plan, number, answer.row, answers, answer.values, raw_of, "time point"):
                answer.values.update(answers)
        for kind, values in bone.items():
            action = plan.bone_actions.get((procedure_key, kind))
            if action is None:
                plan.bone_actions[(procedure_key, kind)] = BoneActionPlan(number, procedure_key, kind, values)
            elif not _conflicts(plan, number, action.row, values, action.values, raw_of, "procedure"):
                action.values.update(values)
        if complication:
            key = (procedure_key, complication["complication_type"], complication["complication_onset_on"])
            level = parsed[LEVEL]["level"] if reaches_level else None
            if key in plan.complications:
                plan.errors.append(
                    RowError(
                        number,
                        "complication_type",
                        raw_of["complication_type"],
                        f"The same complication (type and onset) is already in row {plan.complications[key].row}.",
                    )
                )
                continue
            plan.complications[key] = ComplicationPlan(number, procedure_key, level, complication)
        if not reaches_level:
            continue

        level_key = (*procedure_key, parsed[LEVEL]["level"])
        if level_key in level_rows:
            plan.errors.append(
                RowError(
                    number,
                    "level",
                    raw_of["level"],
                    f"This level is already in row {level_rows[level_key]} for the same procedure: "
                    "a level is treated once per session.",
                )
            )
            continue
        level_rows[level_key] = number
        spread = {
            name: (values * len(leak_locations) if len(values) == 1 else values or ("",) * len(leak_locations))
            for name, values in per_leak.items()
        }
        leaks = [
            LeakPlan(location, *details)
            for location, *details in zip(leak_locations, *(spread[name] for name in LEAK_DETAILS), strict=True)
        ]
        if complication.get("complication_leak"):
            for leak in leaks:
                if leak.location == complication["complication_leak"]:
                    leak.complication_key = key
        procedure.levels.append(
            LevelPlan(
                number,
                parsed[LEVEL],
                parsed[CEMENT].get("cement_product"),
                parsed[CEMENT].get("lot_number", ""),
                parsed[CEMENT].get("lot_expires_on"),
                leaks,
            )
        )

    _check_records(plan)
    if plan.ok:
        _match_registry(plan)
    return plan


def _complication_row_errors(
    number: int, raw_of: dict, complication: dict, leak_locations: tuple, reaches_procedure: bool
) -> list[RowError]:
    if not complication:
        return []
    errors = []
    if not reaches_procedure:
        errors.append(
            RowError(number, "complication_type", "", "A complication belongs to a procedure: give its performed_on.")
        )
    for name in COMPLICATION_REQUIRED:
        if name not in complication:
            errors.append(RowError(number, name, "", "A value is required."))
    leak = complication.get("complication_leak")
    if leak and leak not in leak_locations:
        errors.append(RowError(number, "complication_leak", leak, "Not one of this row's leaks: list it in leaks too."))
    onset, resolved = complication.get("complication_onset_on"), complication.get("complication_resolved_on")
    if onset and resolved and resolved < onset:
        errors.append(RowError(number, "complication_resolved_on", str(resolved), "Resolution is before onset."))
    return errors


def _bone_actions(cells: dict) -> dict[str, dict]:
    """The row's bone-health actions by kind, as ``BoneHealthAction`` values; a date alone means done."""
    actions: dict[str, dict] = {}
    for name, value in cells.items():
        if value is not None and value != "":
            kind, field_name = BONE_COLUMNS[name]
            actions.setdefault(kind, {})[field_name] = value
    for values in actions.values():
        if "status" not in values and values.get("done_on"):
            values["status"] = BoneHealthActionStatus.DONE
    return actions


def _bone_row_errors(number: int, raw_of: dict, bone: dict[str, dict], reaches_procedure: bool) -> list[RowError]:
    errors = []
    for kind, values in bone.items():
        status_column, date_column = f"bone_{kind}_status", f"bone_{kind}_on"
        if not reaches_procedure:
            errors.append(
                RowError(number, status_column, "", "A bone-health action follows a procedure: give its performed_on.")
            )
        status = values.get("status")
        if status is None:
            errors.append(RowError(number, status_column, "", "Give the action's status (or the date it was done)."))
        elif status == BoneHealthActionStatus.DONE and not values.get("done_on"):
            errors.append(RowError(number, date_column, "", "Give the date it was done."))
        elif status != BoneHealthActionStatus.DONE:
            for name, (column_kind, field_name) in BONE_COLUMNS.items():
                if column_kind == kind and field_name not in ("status",) and raw_of.get(name, ""):
                    errors.append(RowError(number, name, raw_of[name], "Only an action done has a date and result."))
    return errors


def _answer_row_errors(
    number: int, raw_of: dict, time_point: str | None, answers: dict, reaches_procedure: bool
) -> list[RowError]:
    errors = []
    instruments = {name for name in answers if name not in ANSWER_REQUIRED}
    if not time_point:
        if answers:
            errors.append(RowError(number, "time_point", "", "Give the time point these answers belong to."))
        return errors
    if not reaches_procedure:
        errors.append(
            RowError(number, "time_point", time_point, "Answers belong to a procedure: give its performed_on.")
        )
    for name in ANSWER_REQUIRED:
        if raw_of.get(name, "") == "":
            errors.append(RowError(number, name, "", "A value is required."))
    if not instruments:
        errors.append(
            RowError(number, "time_point", time_point, "No answer on this row: give VAS, ODI sections or an ODI total.")
        )
    if "odi_total" in answers and instruments & set(ODI_COLUMNS):
        errors.append(
            RowError(number, "odi_total", raw_of.get("odi_total", ""), "Give the ODI sections or the total, not both.")
        )
    return errors


def _conflicts(
    plan: ImportPlan, number: int, first_row: int, values: dict, first: dict, raw_of: dict, what: str
) -> bool:
    found = False
    for name, value in values.items():
        if name in first and value != first[name]:
            plan.errors.append(
                RowError(
                    number,
                    name,
                    raw_of.get(name, ""),
                    f"Differs from row {first_row} for the same {what}: a {what}'s columns must repeat unchanged.",
                )
            )
            found = True
    return found


def _record_errors(plan: ImportPlan, row: int, exc: ValidationError, default_column: str) -> None:
    for name, messages in exc.message_dict.items():
        column = default_column if name in ("__all__", "") else name
        for message in messages:
            plan.errors.append(RowError(row, column, "", message))


def _check_history(plan: ImportPlan) -> None:
    """Withdrawal dates and answers against the patient, the protocol and the calendar."""
    codes = list(
        ProtocolEvent.objects.filter(protocol=protocol_for_site(plan.site))
        .order_by("window_start_day")
        .values_list("code", flat=True)
    )
    today = timezone.localdate()
    for patient in plan.patients.values():
        withdrawn_on = patient.history.get("withdrawn_on")
        if withdrawn_on is None:
            continue
        consent_date = patient.values.get("consent_date")
        if patient.values.get("consent_status") != ConsentStatus.WITHDRAWN:
            rule = "A withdrawal date needs consent_status withdrawn."
        elif consent_date and withdrawn_on < consent_date:
            rule = "The withdrawal is before the consent."
        elif withdrawn_on > today:
            rule = "This date is in the future."
        else:
            continue
        plan.errors.append(RowError(patient.row, "withdrawn_on", str(withdrawn_on), rule))
    for answer in plan.answers.values():
        if answer.time_point not in codes:
            plan.errors.append(
                RowError(
                    answer.row,
                    "time_point",
                    answer.time_point,
                    "Not a time point of the site's protocol: one of " + ", ".join(codes) + ".",
                )
            )
        answered_on = answer.values.get("answered_on")
        deceased_on = plan.patients[answer.procedure_key[0]].values.get("deceased_on")
        if answered_on and answered_on > today:
            plan.errors.append(RowError(answer.row, "answered_on", str(answered_on), "This date is in the future."))
        elif answered_on and deceased_on and answered_on > deceased_on:
            plan.errors.append(
                RowError(answer.row, "answered_on", str(answered_on), "The answers are dated after the death.")
            )


class _Instances:
    """Unsaved instances of ``model`` for its own checks (``clean`` and the services' record rules),
    each the model's defaults with the record's field values over them: a copy of one instance's
    attributes instead of Django's field-by-field ``__init__`` per record (tens of thousands of
    them per import). Only for values of concrete fields by attname, as the plan holds them."""

    def __init__(self, model: type[models.Model]):
        self.model = model
        self.defaults = {k: v for k, v in model().__dict__.items() if k != "_state"}
        # A JSON field's default ({} or []) is a fresh object per instance in Django: so here too.
        self.mutable = [k for k, v in self.defaults.items() if isinstance(v, dict | list | set)]
        self.attnames = {field.attname for field in model._meta.concrete_fields}

    def build(self, values: dict[str, Any]) -> models.Model:
        if not self.attnames.issuperset(values):
            return self.model(**values)
        instance = self.model.__new__(self.model)
        instance.__dict__.update(self.defaults)
        for name in self.mutable:
            instance.__dict__[name] = copy.copy(self.defaults[name])
        instance.__dict__.update(values)
        instance._state = ModelState()
        return instance


def _check_records(plan: ImportPlan) -> None:
    """Rules across fields of a record, with the registry's own checks where it has them."""
    _check_history(plan)
    patients, procedures, levels = _Instances(Patient), _Instances(Procedure), _Instances(TreatedLevel)
    for action in plan.bone_actions.values():
        performed_on = plan.procedures[action.procedure_key].values["performed_on"]
        done_on = action.values.get("done_on")
        if done_on and done_on < performed_on:
            plan.errors.append(
                RowError(
                    action.row,
                    f"bone_{action.kind}_on",
                    str(done_on),
                    f"Before the procedure ({performed_on}): a DXA before it is the patient's last_dxa_on.",
                )
            )
    for complication in plan.complications.values():
        performed_on = plan.procedures[complication.procedure_key].values["performed_on"]
        onset = complication.values["complication_onset_on"]
        if onset < performed_on:
            plan.errors.append(
                RowError(
                    complication.row,
                    "complication_onset_on",
                    str(onset),
                    f"Onset is before the procedure ({performed_on}).",
                )
            )
    for patient in plan.patients.values():
        try:
            patients.build({k: v for k, v in patient.values.items() if k in PATIENT_FIELDS}).clean()
        except ValidationError as exc:
            _record_errors(plan, patient.row, exc, "mrn")
    for procedure in plan.procedures.values():
        values = procedure.values
        patient = plan.patients[procedure.patient_key].values
        performed_on, born = values["performed_on"], patient["date_of_birth"]
        if performed_on < born:
            plan.errors.append(
                RowError(
                    procedure.row, "performed_on", str(performed_on), "The procedure is before the patient's birth."
                )
            )
        elif not AGE_MIN <= age_on(born, performed_on) <= AGE_MAX:
            plan.errors.append(
                RowError(
                    procedure.row,
                    "performed_on",
                    str(performed_on),
                    f"The patient would be {age_on(born, performed_on)} on this date; the registry takes "
                    f"{AGE_MIN}–{AGE_MAX}.",
                )
            )
        deceased_on = patient.get("deceased_on")
        if deceased_on and deceased_on < performed_on:
            plan.errors.append(
                RowError(procedure.row, "deceased_on", str(deceased_on), "The date of death is before this procedure.")
            )
        try:
            validate_karnofsky(values.get("baseline_karnofsky"))
        except ValidationError as exc:
            plan.errors.append(
                RowError(procedure.row, "baseline_karnofsky", str(values.get("baseline_karnofsky")), exc.messages[0])
            )
        instance = procedures.build(values)
        errors = procedure_services.FieldErrors()
        procedure_services.prepare_procedure(instance, errors)
        values["fracture_age"] = instance.fracture_age
        for key, messages in errors.by_key.items():
            column = key.split(".")[-1]
            for message in messages:
                plan.errors.append(RowError(procedure.row, column, str(values.get(column, "")), message))
        for level in procedure.levels:
            errors = procedure_services.FieldErrors()
            procedure_services.check_level_against_procedure(levels.build(level.values), instance, errors, "level")
            for key, messages in errors.by_key.items():
                column = key.split(".")[-1]
                for message in messages:
                    plan.errors.append(RowError(level.row, column, str(level.values.get(column, "")), message))
        warnings = procedure_services.procedure_warnings(
            performed_on=performed_on,
            levels=[
                {
                    "level": level.values["level"],
                    "cement_volume_ml": level.values["cement_volume_ml"],
                    "lot_number": level.lot_number,
                    "lot_expires_on": level.lot_expires_on,
                }
                for level in procedure.levels
            ],
        )
        plan.warnings.extend(RowNote(procedure.row, "procedure", warning) for warning in warnings)


# --- Against the registry ---------------------------------------------------------------------------------


def _diff(file_values: dict, registry_values: dict) -> list[str]:
    return [
        f"{name}: registry has {registry_values[name]!s}, file has {value!s}"
        for name, value in file_values.items()
        if name in registry_values and registry_values[name] != value
    ]


def _chunks(items: list, size: int = 5000):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _match_registry(plan: ImportPlan) -> None:
    """Mark what already exists (natural keys); identical records are skipped, changed ones reported."""
    counts = plan.counts
    patient_fields = sorted({name for p in plan.patients.values() for name in p.values})
    existing_patients: dict[str, dict] = {}
    for mrns in _chunks(list(plan.patients)):
        for row in Patient.objects.filter(site=plan.site, mrn__in=mrns).values("id", *patient_fields):
            existing_patients[row["mrn"]] = row
    for mrn, patient in plan.patients.items():
        found = existing_patients.get(mrn)
        if found is None:
            counts["patients_new"] += 1
            continue
        patient.existing_id = found["id"]
        differences = _diff(patient.values, found)
        counts["patients_changed" if differences else "patients_unchanged"] += 1
        plan.changes.extend(RowNote(patient.row, "patient", d) for d in differences)

    procedure_fields = sorted({name for p in plan.procedures.values() for name in p.values})
    existing_procedures: dict[tuple, dict] = {}
    patient_ids = {p.existing_id: mrn for mrn, p in plan.patients.items() if p.existing_id}
    for ids in _chunks(list(patient_ids)):
        rows = Procedure.objects.filter(patient_id__in=ids).order_by("id").values("id", "patient_id", *procedure_fields)
        for row in rows:
            key = (patient_ids[row["patient_id"]], row["performed_on"], row["procedure_type"])
            existing_procedures.setdefault(key, row)
    level_fields = sorted({name for p in plan.procedures.values() for lv in p.levels for name in lv.values})
    existing_levels: dict[tuple[int, int], dict] = {}
    procedure_ids = [row["id"] for row in existing_procedures.values()]
    leaks_of: dict[int, list[str]] = defaultdict(list)
    for ids in _chunks(procedure_ids):
        for row in TreatedLevel.objects.filter(procedure_id__in=ids).values(
            "id",
            "procedure_id",
            "cement_lot__product_id",
            "cement_lot__lot_number_normalised",
            *level_fields,
        ):
            existing_levels[(row["procedure_id"], row["level"])] = row
        for leak in CementLeak.objects.filter(treated_level__procedure_id__in=ids).values(
            "treated_level_id", "location"
        ):
            leaks_of[leak["treated_level_id"]].append(leak["location"])

    for key, procedure in plan.procedures.items():
        found = existing_procedures.get(key)
        if found is None:
            counts["procedures_new"] += 1
            counts["levels_new"] += len(procedure.levels)
            counts["leaks_new"] += sum(len(level.leaks) for level in procedure.levels)
            continue
        procedure.existing_id = found["id"]
        differences = _diff(procedure.values, found)
        counts["procedures_changed" if differences else "procedures_unchanged"] += 1
        plan.changes.extend(RowNote(procedure.row, "procedure", d) for d in differences)
        for level in procedure.levels:
            current = existing_levels.get((found["id"], level.values["level"]))
            if current is None:
                counts["levels_new"] += 1
                counts["leaks_new"] += len(level.leaks)
                continue
            level.existing_id = current["id"]
            differences = _diff(level.values, current)
            if level.product and (
                current["cement_lot__product_id"] != level.product.pk
                or current["cement_lot__lot_number_normalised"] != normalise_lot_number(level.lot_number)
            ):
                differences.append("cement: registry has another product or lot number")
            if sorted(leak.location for leak in level.leaks) != sorted(leaks_of.get(current["id"], [])):
                differences.append("leaks: registry has other leak locations")
            counts["levels_changed" if differences else "levels_unchanged"] += 1
            plan.changes.extend(RowNote(level.row, "level", d) for d in differences)

    # Answers are new unless the procedure already has answers at that time point.
    answered: set[tuple[int, str]] = set()
    for ids in _chunks(procedure_ids):
        answered.update(SurveyResponse.objects.filter(procedure_id__in=ids).values_list("procedure_id", "event_code"))
    for answer in plan.answers.values():
        procedure_id = plan.procedures[answer.procedure_key].existing_id
        answer.existing = (procedure_id, answer.time_point) in answered
        counts["answers_unchanged" if answer.existing else "answers_new"] += 1

    # Complications are new unless the procedure has one of the same type and onset.
    reported: set[tuple] = set()
    for ids in _chunks(procedure_ids):
        reported.update(
            Complication.objects.filter(procedure_id__in=ids).values_list(
                "procedure_id", "complication_type", "onset_on"
            )
        )
    for (procedure_key, kind, onset), complication in plan.complications.items():
        complication.existing = (plan.procedures[procedure_key].existing_id, kind, onset) in reported
        counts["complications_unchanged" if complication.existing else "complications_new"] += 1

    # Bone-health actions: one of each kind per procedure (the registry's rule); an existing one is
    # left as it is (its later life is the worklist's), differences reported.
    acted: dict[tuple[int, str], dict] = {}
    for ids in _chunks(procedure_ids):
        for row in BoneHealthAction.objects.filter(procedure_id__in=ids).values(
            "procedure_id", "kind", "status", "done_on", "t_score", "therapy"
        ):
            acted[(row["procedure_id"], row["kind"])] = row
    for (procedure_key, kind), action in plan.bone_actions.items():
        found = acted.get((plan.procedures[procedure_key].existing_id, kind))
        if found is None:
            counts["bone_actions_new"] += 1
            continue
        action.existing = True
        differences = _diff(action.values, found)
        counts["bone_actions_changed" if differences else "bone_actions_unchanged"] += 1
        plan.changes.extend(RowNote(action.row, "bone health", d) for d in differences)
