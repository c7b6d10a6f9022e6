"""The patient's survey from the emailed link: steps, drafts, languages, review, scoring, thanks."""

from decimal import Decimal

import pytest
from django.test import Client

from registry.followup import scoring
from registry.followup.models import (
    EventStatus,
    MessageKind,
    MessageStatus,
    OutboundMessage,
    SurveyResponse,
    WorklistItem,
    WorklistKind,
)
from registry.surveys.models import SurveyDraft
from tests.surveys.conftest import NO_RED_FLAGS, ODI_ALL_TWO, answer_all, open_link

pytestmark = pytest.mark.django_db

ODI_CODES = list(scoring.ODI_SECTIONS)


def test_link_opens_on_the_first_step_in_the_patients_language(client, link):
    # Given a Spanish-speaking patient's early survey link
    # When she opens it
    response = client.get(link.url)
    # Then the pain question is shown in Spanish, with the progress and no JavaScript needed
    html = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="es">' in html
    assert "Paso 1 de 4" in html
    assert "cuánto le ha dolido la espalda" in html
    assert "<script" not in html
    assert response["Content-Language"] == "es"
    assert "no-store" in response["Cache-Control"]
    link.invitation.refresh_from_db()
    assert link.invitation.opened_at is not None


def test_each_step_has_a_fieldset_and_legend_per_question_and_a_label_per_option(client, link):
    answer = client.post(link.url, {"step": "pain", "vas": "4"})
    html = client.get(answer["Location"]).content.decode()
    assert html.count("<fieldset") == 10
    assert html.count("<legend>") == 10
    # Every radio is inside a label tied to it by id: 10 sections × 6 options, and a way back out
    # of the one section that may be skipped
    assert html.count('<label class="choice" for="id_odi_') == 61
    assert "puede saltarse" in html.lower()
    assert 'name="odi_sex_life" value=""> <span>Prefiero no responder</span>' in html


def test_an_answer_to_the_optional_section_can_be_taken_back(client, link):
    client.post(link.url, {"step": "odi", **ODI_ALL_TWO})
    assert SurveyDraft.objects.get(invitation=link.invitation).answers["odi_sex_life"] == "2"
    response = client.post(link.url, {"step": "odi", **ODI_ALL_TWO, "odi_sex_life": ""})
    assert response.status_code == 302
    assert "odi_sex_life" not in SurveyDraft.objects.get(invitation=link.invitation).answers


def test_a_missing_answer_shows_an_error_and_keeps_what_was_chosen(client, link):
    # Given the patient answered every ODI section but walking
    answers = {k: v for k, v in ODI_ALL_TWO.items() if k != "odi_walking"}
    answers["odi_lifting"] = "4"
    # When she presses Next
    response = client.post(link.url, {"step": "odi", **answers})
    # Then the page says which question needs an answer and keeps the others checked
    html = response.content.decode()
    assert response.status_code == 200
    assert 'href="#q-odi_walking"' in html
    assert "Por favor, elija una respuesta." in html
    assert 'id="id_odi_lifting_4" name="odi_lifting" value="4" checked' in html
    # And a reload (GET) still shows them: they were saved as a draft
    html = client.get(link.step("odi")).content.decode()
    assert 'id="id_odi_lifting_4" name="odi_lifting" value="4" checked' in html


def test_sex_life_may_be_skipped(client, link):
    answers = {k: v for k, v in ODI_ALL_TWO.items() if k != "odi_sex_life"}
    response = client.post(link.url, {"step": "odi", **answers})
    assert response.status_code == 302
    assert response["Location"].endswith("?step=other")


def test_a_closed_tab_reopened_from_the_link_resumes_with_the_answers(link):
    # Given the patient answered two steps in one browser, then closed it
    first = Client()
    first.post(link.url, {"step": "pain", "vas": "7"})
    first.post(link.url, {"step": "odi", **ODI_ALL_TWO})
    # When she opens the link again in a new browser (no cookies)
    again = Client()
    html = again.get(link.url).content.decode()
    # Then she is back on the step she reached, and her earlier answers are there
    assert "Paso 3 de 4" in html
    assert 'value="7" checked' in again.get(link.step("pain")).content.decode()


def test_language_switch_keeps_answers_given_on_the_page(client, link):
    # Given a half-answered ODI page in Spanish
    # When the patient switches to English on it
    response = client.post(link.url, {"step": "odi", "odi_walking": "3", "language": "en"})
    # Then the same step shows in English with her answer still checked
    assert response.status_code == 302
    page = client.get(response["Location"])
    html = page.content.decode()
    assert '<html lang="en">' in html
    assert "Step 2 of 4" in html
    assert 'id="id_odi_walking_3" name="odi_walking" value="3" checked' in html
    # And the rest of the survey (and what is stored) follows the new language
    answer_all(client, link)
    assert SurveyResponse.objects.get(event=link.event).language == "en"


def test_back_keeps_answers_without_validating(client, link):
    response = client.post(link.url, {"step": "odi", "odi_walking": "1", "action": "back"})
    assert response["Location"].endswith("?step=pain")
    draft = SurveyDraft.objects.get(invitation=link.invitation)
    assert draft.answers == {"odi_walking": "1"}


def test_review_lists_every_answer_before_sending(client, link):
    client.post(link.url, {"step": "pain", "vas": "6"})
    client.post(link.url, {"step": "odi", **ODI_ALL_TWO})
    response = client.post(link.url, {"step": "other", **NO_RED_FLAGS, "analgesic_use": "opioid"})
    html = client.get(response["Location"]).content.decode()
    assert "Revisar y enviar" in html
    assert "Paso 4 de 4" in html
    assert "Analgésicos fuertes (opioides)" in html
    assert html.count("<dt>") == 1 + 10 + 6 + 1
    assert SurveyResponse.objects.count() == 0


def test_submitted_survey_stores_exactly_what_scoring_computes(client, link):
    # Given varied answers, sex life skipped
    odi = {f"odi_{code}": str(i % 6) for i, code in enumerate(ODI_CODES) if code != "sex_life"}
    # When the patient sends them
    response = answer_all(client, link, vas="8", odi=odi)
    # Then the stored response is scored by scoring.py, and the event and link are done
    assert response.status_code == 302
    stored = SurveyResponse.objects.get(event=link.event)
    expected = scoring.odi_score({k.removeprefix("odi_"): int(v) for k, v in odi.items()})
    assert stored.odi_percent == expected.rounded_percent
    assert stored.odi_complete is True and stored.odi_answered == 9
    assert stored.vas == Decimal("8.0")
    assert stored.source == "link" and stored.language == "es"
    assert stored.analgesic_use == "non_opioid"
    assert stored.red_flags == []
    assert stored.red_flag_answers == {code.removeprefix("rf_"): False for code in NO_RED_FLAGS}
    link.event.refresh_from_db()
    link.invitation.refresh_from_db()
    assert link.event.status == EventStatus.COMPLETED
    assert link.invitation.is_spent
    assert not SurveyDraft.objects.filter(invitation=link.invitation).exists()
    # And the pending reminders are cancelled
    reminders = OutboundMessage.objects.filter(invitation=link.invitation, kind=MessageKind.REMINDER)
    assert reminders and all(m.status == MessageStatus.CANCELLED for m in reminders)


def test_thank_you_page_without_red_flags(client, link):
    response = answer_all(client, link)
    html = client.get(response["Location"]).content.decode()
    assert "Muchas gracias" in html
    assert "Póngase en contacto hoy" not in html
    assert link.patient.site.contact_email in html


def test_a_red_flag_tells_the_patient_to_call_today_and_alerts_the_site_at_once(
    client, link, django_capture_on_commit_callbacks
):
    # Given the patient answers yes to new leg weakness
    other = {**NO_RED_FLAGS, "rf_leg_neuro": "yes", "analgesic_use": "none"}
    # When she sends the survey
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = answer_all(client, link, other=other)
    # Then the thank-you page tells her to contact her care team today, or emergency services
    html = client.get(response["Location"]).content.decode()
    assert "Póngase en contacto hoy con su equipo médico" in html
    assert "servicios de emergencia" in html
    # And the worklist has the red flag, and alert emails to the coordinator and clinician are queued now
    stored = SurveyResponse.objects.get(event=link.event)
    assert stored.red_flags == ["leg_neuro"]
    assert WorklistItem.objects.filter(response=stored, kind=WorklistKind.RED_FLAG).exists()
    alerts = OutboundMessage.objects.filter(response=stored, kind=MessageKind.RED_FLAG_ALERT)
    assert sorted(m.to_address for m in alerts) == sorted(
        [link.patient.site.contact_email, link.patient.site.clinician_email]
    )
    assert callbacks, "the alert send task is queued on commit, not left to the next sweep"


def test_three_month_survey_asks_fracture_and_bone_medicine_not_red_flags(client, patient):
    link = open_link(patient, event_code="m3", day=83)
    client.post(link.url, {"step": "pain", "vas": "2"})
    response = client.post(link.url, {"step": "odi", **ODI_ALL_TWO})
    html = client.get(response["Location"]).content.decode()
    assert "hueso roto nuevo" in html
    assert "fortalecer los huesos" in html
    assert "Fiebre o escalofríos" not in html
    response = client.post(link.url, {"step": "other", "new_fracture": "no", "osteoporosis_therapy": "not_prescribed"})
    assert response.status_code == 302
    client.post(link.url, {"step": "review", "action": "submit"})
    stored = SurveyResponse.objects.get(event=link.event)
    assert stored.new_fracture is False and stored.osteoporosis_therapy_taken is False
    assert stored.followup_answers == {"new_fracture": "no", "osteoporosis_therapy": "not_prescribed"}


def test_sending_with_an_unanswered_step_goes_back_to_that_step(client, link):
    # Given a patient who jumps to the review step by its address
    client.post(link.url, {"step": "pain", "vas": "3"})
    # When she sends
    response = client.post(link.url, {"step": "review", "action": "submit"})
    # Then nothing is stored and the ODI step shows what is missing
    assert response.status_code == 200
    assert "Paso 2 de 4" in response.content.decode()
    assert SurveyResponse.objects.count() == 0


def test_an_invented_answer_value_is_refused(client, link):
    response = client.post(link.url, {"step": "pain", "vas": "11"})
    assert response.status_code == 200
    assert "elija una de las respuestas" in response.content.decode()


def test_english_patient_gets_english_pages(client, english_link):
    html = client.get(english_link.url).content.decode()
    assert '<html lang="en">' in html
    assert "Step 1 of 4" in html and "how bad has your back pain been" in html


def test_drafts_of_expired_or_answered_links_are_purged(client, link, english_link, clock):
    from registry.surveys.services import survey_drafts_purge
    from tests.surveys.conftest import at

    # Given one answered link, and one half-answered link whose window then closed
    answer_all(client, english_link)
    client.post(link.url, {"step": "pain", "vas": "5"})
    SurveyDraft.objects.create(invitation=english_link.invitation, answers={"vas": "1"})
    assert survey_drafts_purge(now=at(20)) == 1
    assert SurveyDraft.objects.filter(invitation=link.invitation).exists()
    # When the purge runs after the window closed
    assert survey_drafts_purge(now=at(44)) == 1
    # Then no draft is left
    assert not SurveyDraft.objects.exists()


def test_survey_page_costs_three_queries_once_opened(client, link, django_assert_num_queries):
    client.get(link.url)  # the first opening also records opened_at
    # The invitation (with its event, patient and site), its draft, the event's protocol time point
    with django_assert_num_queries(3):
        assert client.get(link.step("odi")).status_code == 200
