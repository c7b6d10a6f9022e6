"""Inputs for the case-capture services and the new-case form, valid unless told otherwise."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from registry.procedures.models import CementProduct

GTIN = "05012345678900"
SCAN = f"(01){GTIN}(17)271231(10)AB12345"


def today() -> dt.date:
    return timezone.localdate()


def days_ago(n: int) -> dt.date:
    return today() - dt.timedelta(days=n)


def kit_product() -> CementProduct:
    product, _ = CementProduct.objects.get_or_create(
        manufacturer="Acme Spine", brand="VertaFix HV", defaults={"gtin": GTIN, "default_viscosity": "high"}
    )
    return product


def procedure_data(**overrides) -> dict:
    data = {
        "performed_on": days_ago(10),
        "operator": "Dr Vega",
        "setting": "outpatient",
        "procedure_type": "PKP",
        "indication": "osteoporotic",
        "anaesthesia": "local_sedation",
        "guidance": "biplane",
        "radiotherapy": "none",
        "post_neuro_check": "normal",
    }
    data.update(overrides)
    return data


def level_row(level: int, **overrides) -> dict:
    row = {
        "level": level,
        "approach": "bipedicular",
        "cement_volume_ml": Decimal("2.0"),
        "product": kit_product(),
        "lot_number": "AB-12345",
        "lot_expires_on": today() + dt.timedelta(days=400),
        "leaks": [],
    }
    row.update(overrides)
    return row


def complication_row(**overrides) -> dict:
    row = {
        "complication_type": "embolism_pulmonary",
        "severity": "moderate",
        "onset_on": days_ago(10),
        "found_at": "during_procedure",
        "symptomatic": True,
        "outcome": "ongoing",
    }
    row.update(overrides)
    return row


def leak_row(**overrides) -> dict:
    row = {"location": "disc_superior", "detected_by": "fluoroscopy", "symptomatic": False}
    row.update(overrides)
    return row
