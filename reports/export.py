"""De-identified research export for investigators (HIPAA Safe Harbor, 45 CFR 164.514(b)(2)).

What leaves the registry:
- no names, MRN, email, phone, free text (notes, descriptions, histology, operator);
- no exact dates: every date becomes whole days from the procedure (the procedure year,
  which Safe Harbor allows, is kept); no date of birth, only the age at the procedure, with
  ages over 89 shown as "90+";
- no study ids or database ids: patients and procedures get new keys (P00001, X00001, ...)
  numbered in the order of an HMAC under a random key drawn for this export and then
  discarded, so two exports cannot be linked by their keys, nor a key traced back.

Patients who declined consent or whose consent is still pending are left out. Each
download is recorded in ``ExportLog`` (who, when, which sites and filters, row counts and
the file's SHA-256).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import secrets
import zipfile
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import pandas as pd
from django.db import transaction
from django.db.models import F, FloatField, Q
from django.db.models.functions import Cast
from openpyxl import Workbook

from registry import access
from registry.core.audit import access_log_record
from registry.core.models import AccessKind
from registry.core.spreadsheet import csv_row, csv_safe, xlsx_row
from registry.followup.models import SurveyResponse
from registry.patients.models import ConsentStatus, Site
from registry.procedures.models import CementLeak, Complication, LeakLocation, Procedure, TreatedLevel, VertebralLevel
from reports.loaders import CohortFilter, OdiPoints, typed_frame
from reports.metrics import age_in_years, exact_odi
from reports.models import ExportFormat, ExportLog
from reports.stats import format_number

EXPORTED_CONSENT = (ConsentStatus.CONSENTED, ConsentStatus.WITHDRAWN)
TOP_AGE = 90  # Safe Harbor: ages over 89 are aggregated into one "90 or older" category.


# column -> description; the order is the export's column order.
DICTIONARY: dict[str, dict[str, str]] = {
    "procedures": {
        "patient_key": "Patient key for this export only (not the study id; differs in every export).",
        "procedure_key": "Procedure key for this export only.",
        "site": "Site code.",
        "procedure_year": "Year of the procedure.",
        "age_at_procedure": "Completed years at the procedure; '90+' for 90 or older.",
        "sex": "female, male, other, unknown.",
        "consent_status": "consented or withdrawn (data collected before withdrawal).",
        "days_to_death": "Days from the procedure to death; empty if alive or unknown.",
        "procedure_type": "PVP vertebroplasty, PKP balloon kyphoplasty, OTHER.",
        "indication": "osteoporotic, metastasis, myeloma, haemangioma, traumatic_a1, other.",
        "fracture_age_days": "Fracture age at the procedure, days.",
        "fracture_age": "acute (< 6 w), subacute (6 w - 3 m), chronic (> 3 m).",
        "mri_oedema": "MRI / STIR oedema: present, absent, not_done.",
        "setting": "outpatient, inpatient.",
        "anaesthesia": "local, local_sedation, esp_block, general.",
        "guidance": "single_plane, biplane, ct, ct_fluoroscopy.",
        "fluoroscopy_seconds": "Fluoroscopy time, s.",
        "dose_area_product": "Dose-area product, Gy·cm².",
        "levels_treated": "Number of treated levels in the session.",
        "lowest_t_score": "Lowest DXA T-score at entry.",
        "osteoporosis_therapy_at_entry": "none, bisphosphonate, denosumab, teriparatide_abaloparatide, romosozumab, other.",
        "anticoagulant_use": "Risk factor at entry (true / false).",
        "antiplatelet_use": "Risk factor at entry.",
        "diabetes": "Risk factor at entry.",
        "copd": "Risk factor at entry.",
        "prior_vertebral_augmentation": "Risk factor at entry.",
        "primary_tumour": "Primary tumour when neoplastic (004 Table 1 categories).",
        "baseline_karnofsky": "Karnofsky at the procedure, 0-100.",
    },
    "levels": {
        "procedure_key": "Procedure key (procedures sheet).",
        "level": "Vertebra, C1-S1.",
        "approach": "unipedicular, bipedicular, extrapedicular, anterolateral.",
        "needle_gauge": "Needle gauge, G.",
        "cement_product": "Cement brand.",
        "viscosity": "high, medium, low.",
        "cement_volume_ml": "Cement injected, mL.",
        "body_volume_cc": "Vertebral body volume (CT volumetry), cc.",
        "fill_percent": "Cement / body volume x 100, from the recorded volumes, rounded half up to 1 decimal.",
        "leaks": "Number of cement leaks recorded at this level.",
    },
    "leaks": {
        "procedure_key": "Procedure key.",
        "level": "Vertebra of the leak.",
        "location": "Leak location (data dictionary section 2).",
        "location_group": "001 grouping: disc, vascular, posterior, other.",
        "pathway": "Yeom pathway: B basivertebral, S segmental, C cortical; empty if not recorded.",
        "size_grade": "minor, moderate, massive (001).",
        "detected_by": "fluoroscopy, radiograph, ct.",
        "symptomatic": "true / false.",
    },
    "complications": {
        "procedure_key": "Procedure key.",
        "level": "Vertebra, if the complication is tied to a level.",
        "complication_type": "Complication type code (data dictionary section 2).",
        "severity": "SIR severity: mild, moderate, severe, life_threatening, death.",
        "major": "SIR severe or worse (true / false).",
        "symptomatic": "true / false.",
        "found_at": "during_procedure, before_discharge, follow_up_visit, survey_red_flag, other.",
        "management": "Management code.",
        "outcome": "resolved, resolved_sequelae, ongoing, permanent, fatal.",
        "days_to_onset": "Days from the procedure to onset.",
        "days_to_resolution": "Days from the procedure to resolution; empty if unresolved.",
    },
    "surveys": {
        "procedure_key": "Procedure key.",
        "event_code": "baseline, early (2-6 w), m3, m12, or a protocol's own code.",
        "days_from_procedure": "Days from the procedure to the survey (negative before it).",
        "source": "link, phone, paper, clinic.",
        "vas": "Pain VAS 0-10.",
        "odi_percent": "Oswestry Disability Index, %: 20 x points / sections answered, from the answers "
        "(exact), rounded half up to 2 decimals.",
        "odi_complete": "ODI scored (at most one section unanswered).",
        "karnofsky": "Karnofsky 0-100.",
        "new_fracture": "Patient reports a new fracture (true / false / empty).",
        "osteoporosis_therapy_taken": "Patient reports taking osteoporosis therapy.",
        "red_flags": "Red flags raised, separated by '|'.",
    },
}
SHEETS = tuple(DICTIONARY)


@dataclass
class ResearchExport:
    filename: str
    content_type: str
    content: bytes
    row_counts: dict[str, int]


def _rekey(ids: pd.Series, prefix: str, key: bytes) -> dict[int, str]:
    unique = sorted({int(i) for i in ids})
    order = sorted(unique, key=lambda i: hmac.new(key, str(i).encode(), hashlib.sha256).digest())
    width = max(5, len(str(len(order))))
    return {original: f"{prefix}{n:0{width}d}" for n, original in enumerate(order, start=1)}


def _days(later: pd.Series, earlier: pd.Series) -> pd.Series:
    return (pd.to_datetime(later) - pd.to_datetime(earlier)).dt.days.astype("Int64")


def _level_code(levels: pd.Series) -> pd.Series:
    names = {level.value: level.name for level in VertebralLevel}
    return levels.map(lambda v: names.get(int(v)) if pd.notna(v) else None)


def build_tables(cohort: CohortFilter, *, key: bytes) -> dict[str, pd.DataFrame]:
    """The export's tables for ``cohort`` (five set-based queries)."""
    q = cohort.procedure_q()
    consented = {"patient__consent_status__in": EXPORTED_CONSENT}
    procedures = typed_frame(
        Procedure.objects.filter(q, **consented)
        .order_by()
        .annotate(dap=Cast(F("dose_area_product"), FloatField()), t_score=Cast(F("patient__lowest_t_score"), FloatField()))
        .values_list(
            "id", "patient_id", "site__code", "performed_on", "patient__date_of_birth", "patient__sex",
            "patient__consent_status", "patient__deceased_on", "procedure_type", "indication", "fracture_age_days",
            "fracture_age", "mri_oedema", "setting", "anaesthesia", "guidance", "fluoroscopy_seconds", "dap",
            "t_score", "patient__osteoporosis_therapy", "patient__anticoagulant_use", "patient__antiplatelet_use",
            "patient__diabetes", "patient__copd", "patient__prior_vertebral_augmentation", "patient__primary_tumour",
            "baseline_karnofsky",
        ),
        [
            "procedure_id", "patient_id", "site", "performed_on", "born", "sex", "consent_status", "deceased_on",
            "procedure_type", "indication", "fracture_age_days", "fracture_age", "mri_oedema", "setting",
            "anaesthesia", "guidance", "fluoroscopy_seconds", "dose_area_product", "lowest_t_score",
            "osteoporosis_therapy_at_entry", "anticoagulant_use", "antiplatelet_use", "diabetes", "copd",
            "prior_vertebral_augmentation", "primary_tumour", "baseline_karnofsky",
        ],
    )  # fmt: skip
    through = CohortFilter.procedure_q(cohort, "procedure__") & _consent_q("procedure__")
    levels = typed_frame(
        TreatedLevel.objects.filter(through)
        .order_by()
        .annotate(volume=Cast(F("cement_volume_ml"), FloatField()), body=Cast(F("vertebral_body_volume_cc"), FloatField()))
        .values_list("id", "procedure_id", "level", "approach", "needle_gauge", "cement_lot__product__brand", "viscosity", "volume", "body"),
        ["level_id", "procedure_id", "level", "approach", "needle_gauge", "cement_product", "viscosity", "cement_volume_ml", "body_volume_cc"],
    )  # fmt: skip
    leaks = typed_frame(
        CementLeak.objects.filter(
            CohortFilter.procedure_q(cohort, "treated_level__procedure__") & _consent_q("treated_level__procedure__")
        )
        .order_by()
        .values_list("treated_level_id", "treated_level__procedure_id", "treated_level__level", "location", "pathway", "size_grade", "detected_by", "symptomatic"),
        ["level_id", "procedure_id", "level", "location", "pathway", "size_grade", "detected_by", "symptomatic"],
    )  # fmt: skip
    complications = typed_frame(
        Complication.objects.filter(through)
        .order_by()
        .values_list("procedure_id", "treated_level__level", "complication_type", "severity", "symptomatic", "found_at", "management", "outcome", "onset_on", "resolved_on", "procedure__performed_on"),
        ["procedure_id", "level", "complication_type", "severity", "symptomatic", "found_at", "management", "outcome", "onset_on", "resolved_on", "performed_on"],
    )  # fmt: skip
    surveys = typed_frame(
        SurveyResponse.objects.filter(through, procedure__isnull=False)
        .order_by()
        .annotate(vas_f=Cast(F("vas"), FloatField()), odi_points=OdiPoints(F("odi_answers")))
        .values_list("procedure_id", "event_code", "collected_on", "procedure__performed_on", "source", "vas_f", "odi_percent", "odi_points", "odi_answered", "odi_complete", "karnofsky", "new_fracture", "osteoporosis_therapy_taken", "red_flags"),
        ["procedure_id", "event_code", "collected_on", "performed_on", "source", "vas", "stored_odi_percent", "odi_points", "odi_answered", "odi_complete", "karnofsky", "new_fracture", "osteoporosis_therapy_taken", "red_flags"],
    )  # fmt: skip

    patient_keys = _rekey(procedures["patient_id"], "P", key)
    procedure_keys = _rekey(procedures["procedure_id"], "X", key + b"procedure")

    def procedure_key(frame: pd.DataFrame) -> pd.Series:
        return frame["procedure_id"].astype("int64").map(procedure_keys)

    performed = pd.to_datetime(procedures["performed_on"])
    age = age_in_years(pd.to_datetime(procedures["born"]), performed)
    out_procedures = procedures.assign(
        patient_key=procedures["patient_id"].astype("int64").map(patient_keys),
        procedure_key=procedure_key(procedures),
        procedure_year=performed.dt.year,
        age_at_procedure=age.map(lambda years: f"{TOP_AGE}+" if years >= TOP_AGE else str(int(years))),
        days_to_death=_days(procedures["deceased_on"], procedures["performed_on"]),
        levels_treated=procedures["procedure_id"]
        .astype("int64")
        .map(levels["procedure_id"].astype("int64").value_counts())
        .fillna(0)
        .astype(int),
    )
    leak_counts = leaks["level_id"].astype("int64").value_counts() if len(leaks) else pd.Series(dtype=int)
    out_levels = levels.assign(
        procedure_key=procedure_key(levels),
        level=_level_code(levels["level"]),
        fill_percent=[
            exact_fill_percent(volume, body)
            for volume, body in zip(levels["cement_volume_ml"], levels["body_volume_cc"], strict=True)
        ],
        leaks=levels["level_id"].astype("int64").map(leak_counts).fillna(0).astype(int),
    )
    out_leaks = leaks.assign(
        procedure_key=procedure_key(leaks),
        level=_level_code(leaks["level"]),
        location_group=leaks["location"].map(LeakLocation.group_of),
    )
    out_complications = complications.assign(
        procedure_key=procedure_key(complications),
        level=_level_code(complications["level"]),
        major=complications["severity"].isin(("severe", "life_threatening", "death")),
        days_to_onset=_days(complications["onset_on"], complications["performed_on"]),
        days_to_resolution=_days(complications["resolved_on"], complications["performed_on"]),
    )
    out_surveys = surveys.assign(
        procedure_key=procedure_key(surveys),
        days_from_procedure=_days(surveys["collected_on"], surveys["performed_on"]),
        red_flags=surveys["red_flags"].map(_flags),
        odi_percent=[
            exact_odi_display(stored, points, answered)
            for stored, points, answered in zip(
                surveys["stored_odi_percent"], surveys["odi_points"], surveys["odi_answered"], strict=True
            )
        ],
    )
    tables = {
        "procedures": out_procedures.sort_values("procedure_key"),
        "levels": out_levels.sort_values(["procedure_key", "level"]),
        "leaks": out_leaks.sort_values(["procedure_key", "level"]),
        "complications": out_complications.sort_values(["procedure_key", "days_to_onset"]),
        "surveys": out_surveys.sort_values(["procedure_key", "days_from_procedure"]),
    }
    # Only the dictionary's columns leave: whatever else a query fetched (ids, dates) stays here.
    return {name: frame[list(DICTIONARY[name])].reset_index(drop=True) for name, frame in tables.items()}


# Figures are exact until shown (reports.stats): the ODI from its answers, 20 x points / sections
# answered (41 points of 9 sections = 91.111...), and the fill from the two recorded volumes, each
# rounded half up once, for this file, to one more decimal than the instrument's own resolution.
ODI_DECIMALS = 2
FILL_DECIMALS = 1


def exact_odi_display(stored: object, points: object, answered: object) -> Decimal | None:
    """The ODI percent for the export: exact from the answers where they are recorded (the
    stored one-decimal percent only where the score was entered as a percent), rounded half up."""
    if _missing(stored):
        return None  # not scored (more than one section unanswered)
    if _missing(points) or _missing(answered) or not int(answered):
        value = Fraction(str(stored))
    else:
        value = exact_odi(int(points), int(answered))
    return Decimal(format_number(value, ODI_DECIMALS))


def exact_fill_percent(volume: object, body: object) -> Decimal | None:
    """Cement / vertebral body volume in %, from the recorded one-decimal volumes, rounded half up."""
    if _missing(volume) or _missing(body) or not float(body):
        return None
    return Decimal(format_number(Fraction(str(volume)) / Fraction(str(body)) * 100, FILL_DECIMALS))


def _missing(value: object) -> bool:
    return value is None or (not isinstance(value, str) and pd.isna(value))


def _consent_q(prefix: str) -> Q:
    return Q(**{f"{prefix}patient__consent_status__in": EXPORTED_CONSENT})


def _flags(value: object) -> str:
    if isinstance(value, list):
        return "|".join(str(v) for v in value)
    if isinstance(value, str) and value.startswith("["):
        return "|".join(str(v) for v in json.loads(value))
    return ""


def _cell(value: object) -> object:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


def _dictionary_rows() -> list[list[str]]:
    rows = [["sheet", "column", "description"]]
    for sheet, columns in DICTIONARY.items():
        rows += [[sheet, column, text] for column, text in columns.items()]
    rows.append(["(all)", "", "De-identified under HIPAA Safe Harbor: no names, MRN, contact details, free text or "
                 "exact dates; days count from the procedure; keys are new in every export."])  # fmt: skip
    return rows


def render_xlsx(tables: dict[str, pd.DataFrame]) -> bytes:
    workbook = Workbook(write_only=True)
    for name, frame in tables.items():
        sheet = workbook.create_sheet(name)
        sheet.append(list(frame.columns))
        for row in frame.itertuples(index=False):
            sheet.append(xlsx_row(sheet, [_cell(v) for v in row]))
    dictionary = workbook.create_sheet("data_dictionary")
    for row in _dictionary_rows():
        dictionary.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _csv_safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    # Only text columns can hold a formula; numbers, dates and booleans are left to pandas.
    text = [
        name
        for name in frame.columns
        if pd.api.types.is_object_dtype(frame[name]) or pd.api.types.is_string_dtype(frame[name])
    ]
    return frame.assign(**{name: frame[name].map(csv_safe) for name in text}) if text else frame


def render_csv_zip(tables: dict[str, pd.DataFrame]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, frame in tables.items():
            archive.writestr(f"{name}.csv", _csv_safe_frame(frame).to_csv(index=False))
        text = io.StringIO()
        csv.writer(text).writerows(csv_row(row) for row in _dictionary_rows())
        archive.writestr("data_dictionary.csv", text.getvalue())
    return buffer.getvalue()


def research_export_create(*, user, cohort: CohortFilter, file_format: str) -> ResearchExport:
    """Build the export for ``cohort`` (sites the user may export: checked here) and log it."""
    access.require_research_export(user, cohort.site_ids)
    if file_format not in ExportFormat.values:
        raise ValueError(f"unknown export format {file_format!r}")
    key = secrets.token_bytes(32)  # Never stored: the keys cannot be linked back or across exports.
    tables = build_tables(cohort, key=key)
    if file_format == ExportFormat.XLSX:
        content = render_xlsx(tables)
        filename, content_type = (
            "registry-research-export.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    else:
        content, filename, content_type = render_csv_zip(tables), "registry-research-export.zip", "application/zip"
    row_counts = {name: len(frame) for name, frame in tables.items()}
    site_codes = sorted(
        Site.objects.filter(**({} if cohort.site_ids is None else {"id__in": cohort.site_ids})).values_list(
            "code", flat=True
        )
    )
    with transaction.atomic():
        ExportLog.objects.create(
            user=user,
            file_format=file_format,
            site_codes=site_codes,
            filters={
                "performed_from": cohort.performed_from.isoformat() if cohort.performed_from else None,
                "performed_to": cohort.performed_to.isoformat() if cohort.performed_to else None,
                "procedure_type": cohort.procedure_type,
                "indication": cohort.indication,
            },
            row_counts=row_counts,
            sha256=hashlib.sha256(content).hexdigest(),
        )
        one_site = cohort.site_ids[0] if cohort.site_ids and len(cohort.site_ids) == 1 else None
        access_log_record(
            user=user, kind=AccessKind.RESEARCH_EXPORT, site_id=one_site, rows=row_counts.get("procedures")
        )
    return ResearchExport(filename=filename, content_type=content_type, content=content, row_counts=row_counts)
