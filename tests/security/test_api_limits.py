"""Attack: crash or exhaust the API with hostile request bodies.

Before: JSON nested 1,000 levels deep raised RecursionError (a 500), and DRF read any body whole
into memory whatever its size. Now both answer 400 with a clear message, and nothing is written.
"""

# ruff: noqa: F811 (the API fixtures are imported, then requested by name)
import json

import pytest

from registry.followup.models import SurveyResponse
from registry.patients.models import Patient
from tests.api.conftest import api_for, fresh_throttles  # noqa: F401
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


# --- Free text -------------------------------------------------------------------------------


def test_a_two_megabyte_consent_note_is_refused_with_a_message_on_the_field(api_for, coordinator_a, site_a):
    from registry.patients.models import ConsentEvent

    patient = PatientFactory(site=site_a)
    body = {"status": "consented", "effective_on": "2026-01-05", "note": "x" * 2_000_000}
    response = api_for(coordinator_a).post(f"/api/patients/{patient.pk}/consent/", body, format="json")
    assert response.status_code == 400
    assert response.json() == {"note": ["Ensure this field has no more than 4000 characters."]}
    assert not ConsentEvent.objects.filter(patient=patient, note__startswith="xxx").exists()


def test_procedure_notes_over_the_bound_are_refused_and_the_patient_is_kept(api_for, coordinator_a, site_a):
    from tests.factories import ProcedureFactory

    procedure = ProcedureFactory(patient=PatientFactory(site=site_a), notes="Uneventful.")
    api = api_for(coordinator_a)
    response = api.patch(f"/api/procedures/{procedure.pk}/", {"notes": "y" * 4001}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["notes"]
    procedure.refresh_from_db()
    assert procedure.notes == "Uneventful."
    # Exactly at the bound is accepted
    assert api.patch(f"/api/procedures/{procedure.pk}/", {"notes": "y" * 4000}, format="json").status_code == 200


@pytest.mark.parametrize(
    ("table", "column", "factory"),
    [
        ("procedures_procedure", "notes", "ProcedureFactory"),
        ("procedures_complication", "description", "ComplicationFactory"),
    ],
)
def test_the_database_refuses_free_text_over_the_bound_when_the_model_is_bypassed(table, column, factory):
    from django.db import IntegrityError, connection, transaction

    import tests.factories as factories

    row = getattr(factories, factory)()
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {column} = repeat('z', 4001) WHERE id = %s", [row.pk])  # noqa: S608


def test_services_refuse_an_over_long_note_with_a_field_message(site_a, coordinator_a):
    from django.core.exceptions import ValidationError

    from registry.patients.services import consent_record

    patient = PatientFactory(site=site_a)
    with pytest.raises(ValidationError) as refused:
        consent_record(
            patient=patient,
            acting_user=coordinator_a,
            status="consented",
            effective_on=patient.date_of_birth.replace(year=2025),
            note="n" * 4001,
        )
    assert refused.value.message_dict == {"note": ["Keep this to 4000 characters."]}


def test_a_nul_byte_in_a_site_code_is_a_400_not_a_500(api_for, coordinator_a, site_a):
    # Found by schemathesis: PostgreSQL refuses to compare text holding NUL (DataError, a 500)
    body = {"site": "T\x00L", "mrn": "H1", "given_name": "Ana", "family_name": "Ruiz", "sex": "female"}
    response = api_for(coordinator_a).post("/api/patients/", {**body, "date_of_birth": "1950-01-01"}, format="json")
    assert response.status_code == 400
    assert "site" in response.json()
