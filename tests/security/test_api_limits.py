"""Attack: crash or exhaust the API with hostile request bodies.

Before: JSON nested 1,000 levels deep raised RecursionError (a 500), and DRF read any body whole
into memory whatever its size. Now both answer 400 with a clear message, and nothing is written.
"""

# ruff: noqa: F811 (the API fixtures are imported, then requested by name)
import json

import pytest

from registry.followup.models import SurveyResponse
from registry.patients.models import Patient
from tests.api.conftest import _fresh_throttles, api_for  # noqa: F401
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_json_nested_a_thousand_levels_deep_is_a_400_not_a_500(api_for, coordinator_a, site_a):
    patient = PatientFactory(site=site_a)
    body = json.dumps({"patient": patient.pk, "event_code": "baseline", "source": "paper", "answers": {"vas": "__"}})
    body = body.replace('"__"', nested(1000))
    response = api_for(coordinator_a).post("/api/survey-responses/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"detail": "JSON nested deeper than 32 levels."}
    assert not SurveyResponse.objects.exists()


def test_brackets_inside_strings_do_not_count_as_nesting(api_for, coordinator_a, site_a):
    # A note full of brackets is text, not structure: the request is judged on its merits
    patient = PatientFactory(site=site_a)
    body = {"patient": patient.pk, "event_code": "baseline", "source": "paper", "answers": {"vas": "4.0"}}
    body["language"] = "[" * 100 + '\\"' + "{" * 100
    response = api_for(coordinator_a).post("/api/survey-responses/", body, format="json")
    assert response.status_code == 400
    assert "language" in response.json()


def test_a_body_over_the_size_bound_is_refused_before_it_is_parsed(api_for, coordinator_a, site_a, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = {"site": site_a.code, "mrn": "H1", "given_name": "x" * 20_000, "family_name": "Ruiz"}
    response = api_for(coordinator_a).post("/api/patients/", body, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "The request body is larger than 10000 bytes."}
    assert not Patient.objects.exists()


def test_a_form_encoded_body_over_the_bound_is_refused_too(api_for, coordinator_a, site_a, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = api_for(coordinator_a).post(
        "/api/patients/search/", f"query={'x' * 20_000}", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "The request body is larger than 10000 bytes."}
