"""Each site's emergency number and contact text reach its patients; an answered link says thank you."""

import pytest
from django.test import Client

from registry.followup.emails import build_email
from registry.followup.models import OutboundMessage
from tests.factories import PatientFactory, SiteFactory
from tests.surveys.conftest import answer_all, open_link

pytestmark = pytest.mark.django_db


@pytest.fixture
def boston():
    return SiteFactory(
        code="BOS",
        name="Boston Spine Center",
        time_zone="America/New_York",
        emergency_number="911",
        patient_contact_text_en="The spine nurse line answers Monday to Friday, 8 am to 4 pm.",
        patient_contact_text_es="La línea de enfermería contesta de lunes a viernes, de 8 a 16 h.",
    )


@pytest.fixture
def melbourne():
    return SiteFactory(code="MEL", name="Melbourne Spine Unit", time_zone="Australia/Melbourne", emergency_number="000")


def invitation_email(link):
    return build_email(OutboundMessage.objects.get(invitation=link.invitation, kind="invitation"))


def test_spanish_email_of_a_us_site_gives_911_and_the_spanish_contact_text(boston):
    # Given a Spanish-speaking patient of the Boston site
    link = open_link(PatientFactory(site=boston, email="rosa@example.test", preferred_language="es"))
    # When her invitation is built
    email = invitation_email(link)
    html = email.alternatives[0][0]
    # Then both parts name 911, never 112, and carry the site's Spanish contact text
    for body in (email.body, html):
        assert "llame al 911" in body and "112" not in body
        assert "de lunes a viernes, de 8 a 16 h" in body


def test_english_email_of_an_australian_site_gives_000(melbourne):
    link = open_link(PatientFactory(site=melbourne, email="bruce@example.test", preferred_language="en"))
    assert "in an emergency, call 000." in invitation_email(link).body


def test_a_site_without_a_number_names_the_local_emergency_number(site_a):
    # Given a site whose number nobody entered
    link = open_link(PatientFactory(site=site_a, email="ines@example.test", preferred_language="es"))
    body = invitation_email(link).body
    # Then the email does not guess one
    assert "llame al número local de emergencias." in body and "112" not in body


def test_survey_pages_show_the_sites_number_and_text_in_both_languages(client, boston):
    spanish = client.get(open_link(PatientFactory(site=boston, preferred_language="es")).url).content.decode()
    english = client.get(open_link(PatientFactory(site=boston, preferred_language="en")).url).content.decode()
    assert "En caso de urgencia, llame al 911." in spanish
    assert "de lunes a viernes, de 8 a 16 h" in spanish
    assert "In an emergency, call 911." in english
    assert "Monday to Friday, 8 am to 4 pm" in english
    assert "112" not in spanish + english


def test_reopening_an_answered_link_thanks_the_patient_in_her_language(link):
    # Given a Spanish-speaking patient who sent her answers from her phone
    answer_all(Client(), link)
    # When she opens the link again on another device (no session, English browser)
    response = Client(HTTP_ACCEPT_LANGUAGE="en").get(link.url)
    # Then she is thanked in Spanish, with nothing of her answers, and no form
    html = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Language"] == "es"
    assert "Gracias, ya ha respondido" in html
    assert "<form" not in html
    assert "no-store" in response["Cache-Control"]
    # And she may read it in English
    english = Client().get(f"{link.url}?lang=en").content.decode()
    assert "Thank you, you have already answered" in english


def test_the_answer_language_chosen_in_the_survey_wins_over_the_preference(english_link):
    # Given an English-preferring patient who switched the survey to Spanish and answered
    client = Client()
    client.post(english_link.url, {"step": "pain", "vas": "3", "language": "es"})
    answer_all(client, english_link)
    # Then the reopened link thanks her in Spanish
    assert "Gracias, ya ha respondido" in Client().get(english_link.url).content.decode()


def test_an_unknown_link_still_gets_the_uniform_page(client, link):
    answer_all(Client(), link)
    response = client.get("/s/" + "A" * 43 + "/")
    assert response.status_code == 404
    assert "already answered" not in response.content.decode()
