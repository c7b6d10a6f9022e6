"""API personas with tokens, and one complete case at site A built through the real services."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from registry.followup import lifecycle
from registry.followup import services as followup_services
from registry.followup.models import EventStatus, WorklistKind
from registry.patients.models import BoneHealthAction
from registry.patients.services import patient_register
from registry.procedures.models import CementProduct
from registry.procedures.services import procedure_record


@pytest.fixture(autouse=True)
def fresh_throttles():
    # Throttle counters live in the cache; each test starts with a clean allowance.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api_for():
    """``api_for(user)`` -> an APIClient authenticated with the user's token (None: anonymous)."""

    def make(user) -> APIClient:
        client = APIClient()
        if user is not None:
            _, token = AuthToken.objects.create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        return client

    return make


def days_ago(n: int) -> dt.date:
    return timezone.localdate() - dt.timedelta(days=n)


@pytest.fixture
def product(db):
    product, _ = CementProduct.objects.get_or_create(
        manufacturer="Acme Spine", brand="VertaFix HV", defaults={"gtin": "05012345678900"}
    )
    return product


def build_case(*, site, user, product, mrn: str = "H0001"):
    """A consented patient with a two-level kyphoplasty 20 days ago (a symptomatic leak and its
    complication), follow-up planned, a baseline survey entered, a worklist item open."""
    patient = patient_register(
        site=site,
        acting_user=user,
        data={
            "mrn": mrn,
            "given_name": "María",
            "family_name": "García",
            "date_of_birth": dt.date(1944, 5, 2),
            "sex": "female",
            "email": f"{mrn.lower()}@example.test",
            "consent_status": "consented",
            "consent_date": days_ago(25),
        },
    )
    procedure = procedure_record(
        patient=patient,
        acting_user=user,
        data={
            "performed_on": days_ago(20),
            "operator": "Dr Vega",
            "procedure_type": "PKP",
            "indication": "osteoporotic",
            "anaesthesia": "local",
            "guidance": "biplane",
        },
        levels=[
            {
                "level": 19,
                "approach": "bipedicular",
                "cement_volume_ml": Decimal("2.5"),
                "product": product,
                "lot_number": "AB-12345",
                "leaks": [
                    {
                        "location": "disc_superior",
                        "detected_by": "fluoroscopy",
                        "symptomatic": True,
                        "complication_index": 0,
                    }
                ],
            },
            {
                "level": 20,
                "approach": "bipedicular",
                "cement_volume_ml": Decimal("3.0"),
                "product": product,
                "lot_number": "AB-12345",
            },
        ],
        complications=[
            {
                "complication_type": "neuro_radiculopathy",
                "severity": "moderate",
                "onset_on": days_ago(20),
                "found_at": "during_procedure",
                "symptomatic": True,
                "level": 19,
            }
        ],
    )
    events = followup_services.followup_schedule_procedure(procedure_id=procedure.pk)
    baseline = next(e for e in events if e.event_code == "baseline")
    response = followup_services.survey_response_record(
        patient=patient, event=baseline, source="paper", answers={"vas": "7.5"}, acting_user=user
    )
    early = next(e for e in events if e.event_code == "early")
    item = lifecycle.open_worklist_item(
        kind=WorklistKind.PHONE_DUE, patient=patient, due_on=timezone.localdate(), event=early
    )
    level = procedure.levels.get(level=19)
    return {
        "patient": patient,
        "procedure": procedure,
        "level": level,
        "other_level": procedure.levels.get(level=20),
        "leak": level.leaks.get(),
        "complication": procedure.complications.get(),
        "event": early,
        "scheduled_events": [e for e in events if e.status == EventStatus.SCHEDULED],
        "response": response,
        "bone_action": BoneHealthAction.objects.filter(procedure=procedure).first(),
        "worklist_item": item,
    }


@pytest.fixture
def case_a(site_a, coordinator_a, product):
    return build_case(site=site_a, user=coordinator_a, product=product)
