"""A decimal comma is a decimal point in every numeric input: coordinator entry, API and case forms."""

from decimal import Decimal

import pytest
from knox.models import AuthToken
from rest_framework.test import APIClient

from registry.followup import services
from registry.followup.models import FollowUpEvent, SurveyResponse
from registry.procedures.forms import LevelForm
from tests.factories import PatientFactory, ProcedureFactory
from tests.surveys.conftest import DAY0, at

pytestmark = pytest.mark.django_db


@pytest.fixture
def planned(site_a):
    patient = PatientFactory(site=site_a, email="rosa@example.test")
    procedure = ProcedureFactory(patient=patient, performed_on=DAY0)
    services.followup_schedule_procedure(procedure_id=procedure.pk, now=at(0, 12))
    return patient


def test_coordinator_enters_vas_with_a_decimal_comma(client_for, coordinator_a, planned):
    baseline = FollowUpEvent.objects.get(patient=planned, event_code="baseline")

    response = client_for(coordinator_a).post(
        f"/s/entry/{planned.pk}/{baseline.pk}/", {"source": "paper", "collected_on": "2026-02-01", "vas": "7,5"}
    )

    assert response.status_code == 302
    assert SurveyResponse.objects.get(event=baseline).vas == Decimal("7.5")


def test_the_api_takes_vas_with_a_decimal_comma(coordinator_a, planned):
    baseline = FollowUpEvent.objects.get(patient=planned, event_code="baseline")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=coordinator_a)[1]}")

    answer = client.post(
        "/api/survey-responses/",
        {"patient": planned.pk, "event": baseline.pk, "source": "phone", "answers": {"vas": "7,5"}},
        format="json",
    )

    assert answer.status_code == 201, answer.json()
    assert SurveyResponse.objects.get(event=baseline).vas == Decimal("7.5")


@pytest.mark.parametrize(("typed", "read"), [("3,5", Decimal("3.5")), ("3.5", Decimal("3.5")), ("4", Decimal("4"))])
def test_case_forms_read_a_cement_volume_with_comma_or_point(typed, read):
    form = LevelForm(data={"cement_volume_ml": typed})
    form.is_valid()

    assert "cement_volume_ml" not in form.errors
    assert form.cleaned_data["cement_volume_ml"] == read
    assert 'inputmode="decimal"' in str(form["cement_volume_ml"]) and 'type="text"' in str(form["cement_volume_ml"])


def test_a_number_with_both_separators_is_refused():
    form = LevelForm(data={"cement_volume_ml": "1.234,5"})

    assert not form.is_valid() and "cement_volume_ml" in form.errors
