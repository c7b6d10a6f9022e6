# ruff: noqa: F811 (the API fixtures are imported, then requested by name)
"""Attack: attach one patient's survey answers to another patient's procedure.

Before: the API accepted a survey response whose procedure was another patient's (even another
site's, for a user of both sites): 201, and the outcome was counted against the wrong procedure.
Now the service refuses it, and the database refuses it even when the model layer is bypassed.
"""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from registry.accounts.models import Role
from registry.followup import services
from registry.followup.models import SurveyResponse
from tests.api.conftest import api_for, fresh_throttles  # noqa: F401
from tests.factories import PatientFactory, ProcedureFactory, member

pytestmark = pytest.mark.django_db


def test_the_api_refuses_a_procedure_of_another_patient_of_the_same_site(api_for, coordinator_a, site_a):
    # Given two patients of the coordinator's own site, each with a procedure
    ana, bea = PatientFactory(site=site_a), PatientFactory(site=site_a)
    bea_procedure = ProcedureFactory(patient=bea)
    # When the coordinator records Ana's answers against Bea's procedure
    response = api_for(coordinator_a).post(
        "/api/survey-responses/",
        {
            "patient": ana.pk,
            "procedure": bea_procedure.pk,
            "event_code": "baseline",
            "source": "paper",
            "answers": {"vas": "7.0"},
        },
        format="json",
    )
    # Then it is refused with a message on the procedure, and nothing is saved
    assert response.status_code == 400
    assert response.json()["procedure"] == ["This procedure belongs to another patient."]
    assert not SurveyResponse.objects.exists()


def test_a_user_of_two_sites_cannot_mix_their_patients(api_for, site_a, site_b, coordinator_a):
    member(coordinator_a, site_b, Role.COORDINATOR)
    patient_a = PatientFactory(site=site_a)
    procedure_b = ProcedureFactory(patient=PatientFactory(site=site_b))
    response = api_for(coordinator_a).post(
        "/api/survey-responses/",
        {
            "patient": patient_a.pk,
            "procedure": procedure_b.pk,
            "event_code": "baseline",
            "source": "phone",
            "answers": {"vas": "3.0"},
        },
        format="json",
    )
    assert response.status_code == 400
    assert not SurveyResponse.objects.exists()


def test_the_service_refuses_it_for_any_caller(site_a, coordinator_a):
    ana, bea = PatientFactory(site=site_a), PatientFactory(site=site_a)
    with pytest.raises(ValidationError) as refused:
        services.survey_response_record(
            patient=ana,
            procedure=ProcedureFactory(patient=bea),
            event_code="baseline",
            source="paper",
            answers={"vas": "5"},
            acting_user=coordinator_a,
        )
    assert refused.value.message_dict == {"procedure": ["This procedure belongs to another patient."]}


@pytest.fixture
def ana_response(site_a, coordinator_a):
    ana = PatientFactory(site=site_a)
    return services.survey_response_record(
        patient=ana,
        procedure=ProcedureFactory(patient=ana),
        event_code="baseline",
        source="paper",
        answers={"vas": "6"},
        acting_user=coordinator_a,
    )


def test_the_database_refuses_a_raw_update_to_another_patients_procedure(ana_response, site_a):
    bea_procedure = ProcedureFactory(patient=PatientFactory(site=site_a))
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE followup_surveyresponse SET procedure_id = %s WHERE id = %s", [bea_procedure.pk, ana_response.pk]
        )
    ana_response.refresh_from_db()
    assert ana_response.procedure.patient_id == ana_response.patient_id


def test_the_database_refuses_a_bulk_insert_that_mixes_patients(ana_response, site_a):
    bea_procedure = ProcedureFactory(patient=PatientFactory(site=site_a))
    copy = SurveyResponse(
        patient=ana_response.patient,
        procedure=bea_procedure,
        event_code="baseline",
        source="paper",
        collected_on=ana_response.collected_on,
        submitted_at=timezone.now(),
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        SurveyResponse.objects.bulk_create([copy])
    assert SurveyResponse.objects.count() == 1


def test_the_database_refuses_moving_a_procedure_with_answers_to_another_patient(ana_response, site_a):
    bea = PatientFactory(site=site_a)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE procedures_procedure SET patient_id = %s WHERE id = %s", [bea.pk, ana_response.procedure_id]
        )
