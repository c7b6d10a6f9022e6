"""Writes through the API: audited under the token's user, errors per field, confirmations."""

from __future__ import annotations

import pytest
from django.utils import timezone

from registry.patients.models import Patient
from registry.procedures.models import Procedure


def new_case(patient, product, volume="2.0", **extra):
    return {
        "patient": patient.pk,
        "performed_on": timezone.localdate().isoformat(),
        "operator": "Dr Vega",
        "procedure_type": "PVP",
        "indication": "osteoporotic",
        "anaesthesia": "local",
        "guidance": "biplane",
        "levels": [
            {
                "level": "L3",
                "approach": "bipedicular",
                "cement_product": product.pk,
                "lot_number": "AB-12345",
                "cement_volume_ml": volume,
            }
        ],
        **extra,
    }


@pytest.mark.django_db
def test_a_change_through_a_token_is_recorded_under_the_tokens_user(api_for, case_a, coordinator_a):
    # Given an integration authenticated only by coordinator A's token (no session)
    client = api_for(coordinator_a)
    patient = case_a["patient"]

    response = client.patch(f"/api/patients/{patient.pk}/", {"diabetes": True}, format="json")

    assert response.status_code == 200
    latest = Patient.history.filter(id=patient.pk).latest("history_date")
    assert latest.diabetes is True and latest.history_user == coordinator_a


@pytest.mark.django_db
def test_a_case_recorded_through_the_api_is_audited_under_the_token_user(api_for, case_a, coordinator_a, product):
    response = api_for(coordinator_a).post("/api/procedures/", new_case(case_a["patient"], product), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["levels"][0]["level"] == "L3" and body["levels"][0]["level_ordinal"] == 22
    procedure = Procedure.objects.get(pk=body["id"])
    assert procedure.history.get().history_user == coordinator_a
    assert procedure.levels.get().history.get().history_user == coordinator_a


@pytest.mark.django_db
def test_invalid_values_answer_400_with_a_message_per_field(api_for, case_a, coordinator_a, product):
    body = new_case(case_a["patient"], product, volume="22")
    body["performed_on"] = "2999-01-01"

    response = api_for(coordinator_a).post("/api/procedures/", body, format="json")

    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == {"performed_on", "levels.0.cement_volume_ml"}
    assert "15" in errors["levels.0.cement_volume_ml"][0]
    assert Procedure.objects.count() == 1


@pytest.mark.django_db
def test_an_unusual_volume_needs_confirm_true(api_for, case_a, coordinator_a, product):
    client = api_for(coordinator_a)

    first = client.post("/api/procedures/", new_case(case_a["patient"], product, volume="8.0"), format="json")

    assert first.status_code == 400
    answer = first.json()
    assert answer["confirm_with"] == {"confirm": True}
    assert "above 7 mL" in answer["confirmation_required"][0]
    assert Procedure.objects.count() == 1

    confirmed = client.post(
        "/api/procedures/", new_case(case_a["patient"], product, volume="8.0", confirm=True), format="json"
    )
    assert confirmed.status_code == 201


@pytest.mark.django_db
def test_name_and_mrn_search_goes_in_the_body(api_for, case_a, coordinator_a):
    client = api_for(coordinator_a)

    found = client.post("/api/patients/search/", {"query": "garcía"}, format="json")

    assert [p["study_id"] for p in found.json()["results"]] == [case_a["patient"].study_id]
    # Unknown query parameters such as a name are ignored, never used as a filter.
    assert client.get("/api/patients/?family_name=Nobody").json()["count"] == 1


@pytest.mark.django_db
def test_filters_and_ordering(api_for, case_a, coordinator_a):
    client = api_for(coordinator_a)
    study_id = case_a["patient"].study_id

    assert client.get(f"/api/procedures/?study_id={study_id}&procedure_type=PKP").json()["count"] == 1
    assert client.get("/api/procedures/?procedure_type=PVP").json()["count"] == 0
    levels = client.get("/api/treated-levels/?ordering=-level").json()["results"]
    assert [level["level"] for level in levels] == ["L1", "T12"]
    assert client.get("/api/treated-levels/?lot_number=ab 12345").json()["count"] == 2


@pytest.mark.django_db
def test_throttling_answers_429(api_for, case_a, coordinator_a, settings, monkeypatch):
    from rest_framework.throttling import UserRateThrottle

    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/minute", "anon": "3/minute"})
    client = api_for(coordinator_a)
    codes = [client.get("/api/sites/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
