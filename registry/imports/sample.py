"""A synthetic legacy series in the template's columns, for tests, the benchmark and demonstrations.

Deterministic for a seed. Every tenth patient has a single one-level procedure (rows a test can
spoil without touching another row's patient); the others have one or two procedures of one to
three levels, spread over the ten years before ``today``. Names and MRNs are invented.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random

from openpyxl import Workbook

from registry.followup.scoring import ODI_SECTIONS
from registry.imports.reading import SHEET_NAME

COLUMNS = [
    "mrn",
    "given_name",
    "family_name",
    "date_of_birth",
    "sex",
    "email",
    "phone",
    "preferred_language",
    "consent_status",
    "consent_date",
    "consent_form_version",
    "diabetes",
    "osteoporosis_therapy",
    "last_dxa_on",
    "lowest_t_score",
    "performed_on",
    "operator",
    "setting",
    "procedure_type",
    "indication",
    "fracture_age_days",
    "fracture_age",
    "anaesthesia",
    "guidance",
    "fluoroscopy_seconds",
    "level",
    "approach",
    "needle_gauge",
    "cement_product",
    "lot_number",
    "lot_expires_on",
    "viscosity",
    "cement_volume_ml",
    "vertebral_body_volume_cc",
    "balloon_inflated",
    "leaks",
    "leak_detected_by",
]
GIVEN = ["María", "Carmen", "Josefa", "Isabel", "Ana", "Pilar", "Dolores", "Antonio", "José", "Manuel", "Francisco"]
FAMILY = ["García", "Rodríguez", "González", "Fernández", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Martín"]
LEVELS = ["T8", "T9", "T10", "T11", "T12", "L1", "L2", "L3", "L4", "L5"]
LEAKS = ["disc_superior", "disc_inferior", "paravertebral", "venous_basivertebral", "venous_segmental", "epidural"]


def legacy_rows(n_levels: int, *, product: str, today: dt.date, seed: int = 7) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows: list[dict[str, str]] = []
    patient = 0
    while len(rows) < n_levels:
        patient += 1
        simple = patient % 10 == 0
        born = dt.date(1925 + rng.randrange(45), rng.randrange(1, 13), rng.randrange(1, 29))
        consented = rng.random() < 0.85
        first_on = today - dt.timedelta(days=rng.randrange(30, 3650))
        person = {
            "mrn": f"H{patient:07d}",
            "given_name": rng.choice(GIVEN),
            "family_name": f"{rng.choice(FAMILY)} {rng.choice(FAMILY)}",
            "date_of_birth": born.isoformat(),
            "sex": rng.choice(["female", "female", "female", "male"]),
            "email": f"p{patient}@example.test" if rng.random() < 0.6 else "",
            "phone": f"+34 925 {rng.randrange(100000, 999999)}",
            "preferred_language": rng.choice(["es", "es", "en"]),
            "consent_status": "consented" if consented else "pending",
            "consent_date": (first_on - dt.timedelta(days=1)).isoformat() if consented else "",
            "consent_form_version": "v2" if consented else "",
            "diabetes": rng.choice(["yes", "no", "no", "no"]),
            "osteoporosis_therapy": rng.choice(["none", "bisphosphonate", "denosumab"]),
            "last_dxa_on": "",
            "lowest_t_score": f"{rng.uniform(-4.5, -1.0):.1f}",
        }
        procedures = 1 if simple else rng.choice([1, 1, 2])
        for n in range(procedures):
            performed = first_on + dt.timedelta(days=200 * n)
            if performed >= today:
                break
            session = {
                "performed_on": performed.isoformat(),
                "operator": rng.choice(["Dr Vega", "Dr Ruiz", "Dr Moreno"]),
                "setting": rng.choice(["outpatient", "inpatient"]),
                "procedure_type": rng.choice(["PVP", "PVP", "PKP"]),
                "indication": rng.choice(["osteoporotic", "osteoporotic", "metastasis", "myeloma"]),
                "fracture_age_days": str(rng.randrange(5, 120)),
                "fracture_age": "",
                "anaesthesia": rng.choice(["local", "local_sedation", "general"]),
                "guidance": rng.choice(["single_plane", "biplane"]),
                "fluoroscopy_seconds": str(rng.randrange(60, 900)),
            }
            count = 1 if simple else rng.choice([1, 1, 2, 2, 3])
            start = rng.randrange(len(LEVELS) - count + 1)
            for level in LEVELS[start : start + count]:
                leaks = rng.sample(LEAKS, rng.choice([0, 0, 0, 1, 2]))
                rows.append(
                    {
                        **person,
                        **session,
                        "level": level,
                        "approach": rng.choice(["unipedicular", "bipedicular"]),
                        "needle_gauge": rng.choice(["11", "13"]),
                        "cement_product": product,
                        "lot_number": f"LOT-{performed.year}-{rng.randrange(20):02d}",
                        "lot_expires_on": dt.date(performed.year + 2, 12, 31).isoformat(),
                        "viscosity": rng.choice(["high", "medium"]),
                        "cement_volume_ml": f"{rng.uniform(1.0, 4.5):.1f}",
                        "vertebral_body_volume_cc": f"{rng.uniform(15, 38):.1f}",
                        "balloon_inflated": "",
                        "leaks": ";".join(leaks),
                        "leak_detected_by": "fluoroscopy" if leaks else "",
                    }
                )
                if len(rows) == n_levels:
                    return rows
    return rows


def to_csv(rows: list[dict[str, str]], columns: list[str] = COLUMNS) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def to_xlsx(rows: list[dict[str, str]], columns: list[str] = COLUMNS) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(SHEET_NAME)
    sheet.append(columns)
    for row in rows:
        sheet.append([row.get(name, "") for name in columns])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


ODI_COLUMNS = [f"odi_{code}" for code in ODI_SECTIONS]
HISTORY_COLUMNS = [
    *COLUMNS,
    "complication_type",
    "complication_onset_on",
    "complication_found_at",
    "complication_severity",
    "complication_outcome",
    "time_point",
    "answered_on",
    "answer_source",
    "vas",
    *ODI_COLUMNS,
    "odi_total",
]
# Days after the procedure on which a time point's answers are dated (inside the default windows).
ANSWER_DAYS = {"baseline": -1, "early": 20, "m3": 90, "m12": 360}


def with_history(
    rows: list[dict[str, str]], *, answers: int, complication_every: int, today: dt.date, seed: int = 11
) -> list[dict[str, str]]:
    """``rows`` with a complication on every ``complication_every``-th level and up to ``answers``
    answer rows (long format: one per procedure and time point, VAS and ODI sections, or an ODI
    total on every fifth), for the benchmark and tests of a whole legacy record."""
    rng = random.Random(seed)
    out = []
    procedures: dict[tuple, dict[str, str]] = {}
    for index, row in enumerate(rows):
        row = dict(row)
        if index % complication_every == 0:
            row.update(
                complication_type="neuro_radiculopathy",
                complication_onset_on=(dt.date.fromisoformat(row["performed_on"]) + dt.timedelta(days=1)).isoformat(),
                complication_found_at="before_discharge",
                complication_severity="mild",
                complication_outcome="resolved",
            )
        out.append(row)
        procedures.setdefault((row["mrn"], row["performed_on"], row["procedure_type"]), row)
    level_columns = set(COLUMNS[COLUMNS.index("level") :]) | {
        name for name in HISTORY_COLUMNS if "complication" in name
    }
    made = 0
    for (_mrn, performed_on, _type), row in procedures.items():
        for time_point, day in ANSWER_DAYS.items():
            answered_on = dt.date.fromisoformat(performed_on) + dt.timedelta(days=day)
            if made == answers or answered_on > today:
                break
            answer = {key: value for key, value in row.items() if key not in level_columns}
            answer.update(
                time_point=time_point,
                answered_on=answered_on.isoformat(),
                answer_source=rng.choice(["paper", "phone", "clinic"]),
                vas=f"{rng.randrange(0, 101) / 10:.1f}",
            )
            if made % 5 == 4:
                answer["odi_total"] = str(rng.randrange(0, 51) * 2)
            else:
                answer.update({name: str(rng.randrange(0, 6)) for name in ODI_COLUMNS})
            out.append(answer)
            made += 1
    return out
