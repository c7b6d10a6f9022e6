from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from registry.followup import dispatch, services
from registry.followup.models import (
    EventStatus,
    FollowUpEvent,
    MessageKind,
    OutboundMessage,
    SurveyResponse,
    WorklistItem,
    WorklistKind,
)
from tests.followup.conftest import at, record_procedure

pytestmark = pytest.mark.django_db

ODI_ALL_TWO = dict.fromkeys(
    (
        "pain_intensity",
        "personal_care",
        "lifting",
        "walking",
        "sitting",
        "standing",
        "sleeping",
        "sex_life",
        "social_life",
        "travelling",
    ),
    2,
)


@pytest.fixture
def early(patient, clock):
    procedure = record_procedure(patient)
    clock.set(at(14))
    dispatch.followup_sweep(now=at(14), queue=lambda pk: None)
    return FollowUpEvent.objects.get(procedure=procedure, event_code="early")


def test_response_is_scored_by_the_scoring_module_and_completes_the_event(patient, early, clock):
    clock.set(at(16))
    odi = dict(ODI_ALL_TWO, sex_life=None)

    response = services.survey_response_record(
        patient=patient,
        event=early,
        source="link",
        answers={"vas": "4.5", "odi": odi, "red_flags": {"fever_chills": False}, "analgesic_use": "non_opioid"},
        language="es",
    )

    assert response.vas == Decimal("4.5")
    assert (response.odi_percent, response.odi_answered, response.odi_complete) == (Decimal("40.0"), 9, True)
    assert response.analgesic_use == "non_opioid" and response.red_flags == []
    assert response.event_code == "early" and response.procedure == early.procedure
    early.refresh_from_db()
    assert early.status == EventStatus.COMPLETED
    assert early.invitation.submitted_at == at(16)
    assert not OutboundMessage.objects.filter(invitation=early.invitation, status="pending").exists()
    assert response.history.count() == 1


def test_two_unanswered_odi_sections_store_incomplete_not_zero(patient, early):
    odi = dict(ODI_ALL_TWO, sex_life=None, lifting=None)
    response = services.survey_response_record(patient=patient, event=early, source="link", answers={"odi": odi})
    assert (response.odi_percent, response.odi_answered, response.odi_complete) == (None, 8, False)


def test_bad_answers_get_a_message_per_question_and_save_nothing(patient, early):
    with pytest.raises(ValidationError) as error:
        services.survey_response_record(
            patient=patient,
            event=early,
            source="link",
            answers={"vas": "11", "odi": {"walking": 7}, "new_fracture": "maybe"},
        )
    assert set(error.value.message_dict) == {"vas", "odi", "new_fracture"}
    assert not SurveyResponse.objects.exists()
    early.refresh_from_db()
    assert early.status == EventStatus.INVITED


def test_a_survey_takes_one_answer_only(patient, early):
    services.survey_response_record(patient=patient, event=early, source="link", answers={"vas": 3})
    with pytest.raises(ValidationError, match="already been answered"):
        services.survey_response_record(patient=patient, event=early, source="phone", answers={"vas": 3})


def test_red_flag_goes_on_the_worklist_and_alerts_coordinator_and_clinician_at_once(
    patient, early, clock, django_capture_on_commit_callbacks, mailoutbox, monkeypatch
):
    from registry.followup import tasks

    queued = []
    monkeypatch.setattr(tasks.send_messages_task, "delay", queued.extend)
    clock.set(at(15, 22))  # after hours: alerts do not wait for the morning

    with django_capture_on_commit_callbacks(execute=True):
        response = services.survey_response_record(
            patient=patient, event=early, source="link", answers={"red_flags": {"leg_neuro": True, "wound": False}}
        )

    assert response.red_flags == ["leg_neuro"]
    item = WorklistItem.objects.get(kind=WorklistKind.RED_FLAG)
    assert item.response == response
    alerts = OutboundMessage.objects.filter(kind=MessageKind.RED_FLAG_ALERT)
    assert sorted(alerts.values_list("to_address", flat=True)) == sorted(
        [patient.site.contact_email, patient.site.clinician_email]
    )
    assert sorted(queued) == sorted(alerts.values_list("id", flat=True))
    for pk in queued:
        dispatch.message_send(message_id=pk)
    assert len(mailoutbox) == 2
    body = mailoutbox[0].body
    assert patient.study_id in body and "weakness" in body
    assert patient.given_name not in body + mailoutbox[0].subject
    assert "weakness" not in mailoutbox[0].subject
    # The subject is read on lock screens and kept in mail logs: no identifier of the patient
    assert patient.study_id not in mailoutbox[0].subject


def test_coordinator_enters_a_missed_survey_by_phone(patient, early, clock, coordinator_a):
    clock.set(at(43))
    dispatch.followup_sweep(now=at(43), queue=lambda pk: None)
    early.refresh_from_db()
    assert early.status == EventStatus.MISSED

    response = services.survey_response_record(
        patient=patient, event=early, source="phone", answers={"vas": 5}, acting_user=coordinator_a
    )

    early.refresh_from_db()
    assert early.status == EventStatus.COMPLETED
    assert response.entered_by == coordinator_a
    assert response.history.first().history_user == coordinator_a
    assert WorklistItem.objects.get(kind=WorklistKind.MISSED_EVENT).status == "done"


def test_opt_out_from_the_link_is_recorded_and_stops_emails(patient, early, clock):
    clock.set(at(15))
    services.survey_opt_out(invitation=early.invitation)

    patient.refresh_from_db()
    assert patient.contact_opt_out and patient.contact_opt_out_at == at(15)
    # Nothing pending to the patient; the site's two mailboxes are told (tests/followup/test_staff_mail.py)
    pending = OutboundMessage.objects.filter(patient=patient, status="pending")
    assert sorted(pending.values_list("kind", flat=True)) == ["opt_out_notice", "opt_out_notice"]
    assert WorklistItem.objects.filter(kind=WorklistKind.OPTED_OUT, patient=patient).count() == 1


def test_staff_of_another_site_cannot_enter_answers(patient, early, coordinator_b):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.survey_response_record(
            patient=patient, event=early, source="phone", answers={"vas": 3}, acting_user=coordinator_b
        )
    assert not SurveyResponse.objects.filter(patient=patient).exists()
