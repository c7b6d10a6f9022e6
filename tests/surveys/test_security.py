"""Links that cannot be guessed or read back, one answer for every closed link, rate limits, CSRF."""

import base64
import hashlib
import re
import secrets

import pytest
from django.test import Client

from registry.followup import tokens
from registry.followup.models import SurveyInvitation, SurveyResponse
from registry.surveys.models import SurveyDraft
from tests.factories import PatientFactory
from tests.surveys.conftest import answer_all, at, open_link

pytestmark = pytest.mark.django_db

CONTACT_SECTION = re.compile(r'<section class="contact".*?</section>', re.S)


def random_token() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


def phi_of(patient) -> list[str]:
    return [
        patient.given_name,
        patient.family_name,
        patient.email,
        patient.mrn,
        patient.study_id,
        patient.date_of_birth.isoformat(),
        patient.date_of_birth.strftime("%d/%m/%Y"),
    ]


@pytest.fixture
def used_link(site_a):
    link = open_link(PatientFactory(site=site_a, given_name="Dolores", email="dolores@example.test"))
    answer_all(Client(), link)
    return link


@pytest.fixture
def expired_link(site_a):
    # The window closes at the end of day 42 (site time): the test moves the clock past it
    return open_link(PatientFactory(site=site_a, given_name="Amparo", email="amparo@example.test"))


def test_unknown_link_page_shows_no_patient_data_and_the_registry_contact(client, link, settings):
    # Given a patient with a live link, and the registry's generic contact configured
    settings.REGISTRY_CONTACT_EMAIL = "registry-help@hospital.test"
    # When someone opens a link that does not exist
    response = client.get(f"/s/{random_token()}/")
    # Then they get the friendly page with the registry's contact and nothing about any patient or site
    html = response.content.decode()
    assert response.status_code == 404
    assert "Este enlace no está disponible" in html or "This link is not available" in html
    assert "registry-help@hospital.test" in html
    for value in phi_of(link.patient) + [link.patient.site.name, link.patient.site.contact_email]:
        assert value not in html


def test_unknown_and_expired_links_get_the_same_answer(client, expired_link, used_link, clock):
    # Given one link of each kind, opened from the same browser on day 44
    clock.set(at(44))
    responses = {
        "unknown": client.get(f"/s/{random_token()}/"),
        "expired": client.get(expired_link.url),
    }
    # Then status, headers and page are the same, except the contact (a known link's site)
    statuses = {name: r.status_code for name, r in responses.items()}
    assert set(statuses.values()) == {404}, statuses
    header_names = {
        name: sorted(k for k in r.headers if k.lower() not in ("date", "content-length"))
        for name, r in responses.items()
    }
    assert header_names["unknown"] == header_names["expired"]
    assert not any(r.cookies for r in responses.values())
    bodies = {name: r.content.decode() for name, r in responses.items()}
    stripped = {name: CONTACT_SECTION.sub("", body) for name, body in bodies.items()}
    assert stripped["unknown"] == stripped["expired"]
    assert expired_link.patient.site.contact_email in bodies["expired"]
    # And the answered link thanks its holder, telling nothing about the patient or the answers
    used = client.get(used_link.url)
    assert used.status_code == 200 and "already answered" in used.content.decode()
    assert not used.cookies
    for link in (expired_link, used_link):
        for value in phi_of(link.patient):
            assert value not in bodies["expired"] + used.content.decode()


def test_a_cancelled_event_link_gets_the_same_page(client, link):
    from registry.followup import services

    services.followup_stop_contact(patient_id=link.patient.pk, reason="withdrawn", now=at(15))
    response = client.get(link.url)
    assert response.status_code == 404
    assert "survey-form" not in response.content.decode() and "<form" not in response.content.decode()


def test_guessing_links_is_rate_limited_per_address(settings, link):
    # Given at most 3 unknown links per address
    settings.SURVEY_UNKNOWN_LINK_RATE_LIMIT = "3/h"
    guesser = Client(REMOTE_ADDR="203.0.113.7")
    # When an address tries three invented links
    for _ in range(3):
        assert guesser.get(f"/s/{random_token()}/").status_code == 404
    # Then its next guess is refused with a friendly page
    refused = guesser.get(f"/s/{random_token()}/")
    assert refused.status_code == 429
    assert "Retry-After" in refused
    assert "<h1>" in refused.content.decode()
    # And a real link still opens from that address (tests/security/test_survey_ratelimit.py)
    assert guesser.get(link.url).status_code == 200


def test_flooding_one_link_is_rate_limited(settings, link):
    settings.SURVEY_LINK_RATE_LIMIT = "5/m"
    flood = Client(REMOTE_ADDR="203.0.113.9")
    codes = [flood.get(link.url).status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]


def test_stop_endpoint_counts_towards_the_same_limit(settings):
    settings.SURVEY_UNKNOWN_LINK_RATE_LIMIT = "2/h"
    guesser = Client(REMOTE_ADDR="203.0.113.8")
    guesser.get(f"/s/{random_token()}/stop/")
    guesser.get(f"/s/{random_token()}/")
    assert guesser.get(f"/s/{random_token()}/stop/").status_code == 429


def test_answers_are_not_accepted_without_the_csrf_token(link):
    # Given a browser that opened the link (it holds the CSRF cookie)
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(link.url)
    # When a form is posted without the token (a forged cross-site post)
    forged = browser.post(link.url, {"step": "pain", "vas": "9"})
    # Then it is refused and nothing is saved
    assert forged.status_code == 403
    assert not SurveyDraft.objects.filter(invitation=link.invitation).exists()
    # And the real form, with its token, is accepted
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    assert browser.post(link.url, {"step": "pain", "vas": "9", "csrfmiddlewaretoken": token}).status_code == 302


def test_final_submit_needs_the_csrf_token(link):
    browser = Client(enforce_csrf_checks=True)
    browser.get(link.url)
    answer_all_without_csrf = browser.post(link.url, {"step": "review", "action": "submit"})
    assert answer_all_without_csrf.status_code == 403
    assert not SurveyResponse.objects.exists()


def test_the_database_row_alone_does_not_give_the_link(link, settings):
    # Given an invitation row as a copy of the database shows it
    row = SurveyInvitation.objects.filter(pk=link.invitation.pk).values().get()
    # Then no column holds the token, and the token has 256 random-looking bits
    assert all(link.token not in str(value) for value in row.values())
    assert len(base64.urlsafe_b64decode(link.token + "=")) == 32
    # The stored hash is of the token (so a link can be found), not something the token comes from
    assert row["token_hash"] == hashlib.sha256(link.token.encode()).hexdigest()
    # And rebuilding the token from the row needs the server's key: with any other key it differs
    settings.SURVEY_TOKEN_KEY = "an attacker's guess at the key"
    assert tokens.token_for(row["id"], row["token_salt"]) != link.token
    assert tokens.invitation_by_token(link.token) is None


def test_link_url_names_no_patient(link):
    url = tokens.survey_url(link.invitation)
    for value in phi_of(link.patient):
        assert value not in url
    assert re.fullmatch(r".*/s/[A-Za-z0-9_-]{43}/", url)


def test_thank_you_page_is_only_for_the_browser_that_sent_the_answers(used_link):
    # Someone else holding the link cannot learn whether warning signs were reported
    other = Client()
    response = other.get(f"{used_link.url}thanks/")
    assert response.status_code == 404
    assert "Thank you" not in response.content.decode() and "Muchas gracias" not in response.content.decode()
