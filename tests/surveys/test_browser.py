"""A patient answers the early survey in Spanish in a real browser, from the link in a real email.

Debian's Chromium (``apt-get install chromium``) driven by Playwright's sync API, never a
downloaded browser; the app is served by pytest-django's ``live_server``; the invitation goes
through the follow-up engine's own sweep and send to an SMTP server (aiosmtpd) in this process.
Every page the patient sees is checked with axe-core (vendored, injected from disk).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from registry.followup import dispatch, mailer
from registry.followup import services as followup_services
from registry.followup.models import FollowUpEvent, SurveyResponse
from tests.factories import PatientFactory, ProcedureFactory
from tests.surveys.conftest import DAY0, at

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = Path(__file__).parent / "vendor" / "axe-4.14.1.min.js"
ODI_SECTIONS = (
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
)
RED_FLAGS = ("fever_chills", "wound", "leg_neuro", "bladder_bowel", "breathless_chest_pain", "new_back_pain")


@pytest.fixture
def mail_to_smtp(settings, smtp_server):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    mailer.smtp_connection_drop()
    yield smtp_server
    mailer.smtp_connection_drop()


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now (WCAG 2.1 A and AA rules)."""
    # Evaluated through the browser's devtools protocol: an injected <script> would be inline code,
    # which the pages' Content-Security-Policy rightly refuses.
    page.evaluate(AXE.read_text())
    violations = page.evaluate(
        """async () => (await axe.run(document, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']},
            resultTypes: ['violations'],
        })).violations"""
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]


def test_patient_answers_in_spanish_from_the_emailed_link_and_the_coordinator_sees_the_score(
    live_server, settings, mail_to_smtp, site_a, coordinator_a, client_for, clock
):
    from playwright.sync_api import expect, sync_playwright

    # Given a Spanish-speaking patient treated on day 0, and the sweep on day 14 sending her invitation
    settings.SITE_URL = live_server.url
    patient = PatientFactory(
        site=site_a, given_name="Lucía", family_name="Fernández", email="lucia@example.test", preferred_language="es"
    )
    procedure = ProcedureFactory(patient=patient, performed_on=DAY0)
    followup_services.followup_schedule_procedure(procedure_id=procedure.pk, now=at(0, 12))
    clock.set(at(14, 10))
    dispatch.followup_sweep(now=at(14, 10), queue=lambda pk: dispatch.message_send(message_id=pk, now=at(14, 10)))

    # When she reads the email the SMTP server received
    (email,) = mail_to_smtp.handler.to("lucia@example.test")
    assert email.subject == f"Un breve cuestionario de {site_a.name}"
    text = email.part("text/plain")
    assert "Estimado/a Lucía" in text
    survey_url = re.search(r"(http://\S+/s/[A-Za-z0-9_-]{43}/)\s", text).group(1)
    assert survey_url.startswith(live_server.url)
    assert f"{survey_url}stop/" in text

    violations: dict[str, list[str]] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # A small phone screen
            page = browser.new_page(locale="es-ES", viewport={"width": 360, "height": 740})
            page.goto(survey_url)

            # Step 1: pain, in Spanish
            expect(page.locator("h1")).to_have_text("Dolor")
            expect(page.locator(".progress-count")).to_have_text("Paso 1 de 4")
            violations["pain"] = serious_violations(page)
            page.get_by_label("6", exact=True).check()
            page.get_by_role("button", name="Siguiente", exact=True).click()

            # Step 2: ODI, with a mistake: walking left unanswered
            expect(page.locator(".progress-count")).to_have_text("Paso 2 de 4")
            for code in ODI_SECTIONS:
                if code != "walking":
                    page.check(f"#id_odi_{code}_2")
            page.check("#id_odi_lifting_4")
            page.get_by_role("button", name="Siguiente", exact=True).click()

            # The page says what is missing, in Spanish, and keeps every other answer
            summary = page.get_by_role("alert")
            expect(summary).to_contain_text("Revise sus respuestas")
            expect(page.locator("#q-odi_walking .field-error")).to_contain_text("Por favor, elija una respuesta.")
            assert page.is_checked("#id_odi_lifting_4") and page.is_checked("#id_odi_travelling_2")
            violations["odi with an error"] = serious_violations(page)

            # She follows the error link and fixes it with the keyboard
            summary.get_by_role("link").click()
            page.focus("#id_odi_walking_0")
            page.keyboard.press("ArrowDown")
            assert page.is_checked("#id_odi_walking_1")
            page.get_by_role("button", name="Siguiente", exact=True).click()

            # Step 3: warning signs and painkillers
            expect(page.locator(".progress-count")).to_have_text("Paso 3 de 4")
            expect(page.get_by_text("Fiebre o escalofríos")).to_be_visible()
            violations["other"] = serious_violations(page)
            for code in RED_FLAGS:
                page.check(f"input[name=rf_{code}][value=no]")
            page.get_by_label("Analgésicos habituales", exact=False).check()
            page.get_by_role("button", name="Siguiente: revisar sus respuestas").click()

            # Step 4: review, then send
            expect(page.locator("h1")).to_have_text("Revisar y enviar")
            expect(page.locator("main")).to_contain_text("Tengo un dolor moderado.")
            violations["review"] = serious_violations(page)
            page.get_by_role("button", name="Enviar mis respuestas").click()

            # The thank-you page
            expect(page.locator("h1")).to_have_text("Muchas gracias")
            expect(page.locator("main")).not_to_contain_text("Póngase en contacto hoy")
            violations["thanks"] = serious_violations(page)

            # The spent link now thanks her again, in Spanish, with the site's contact
            page.goto(survey_url)
            expect(page.locator("h1")).to_have_text("Gracias, ya ha respondido")
            expect(page.locator("footer")).to_contain_text(site_a.contact_email)
            violations["answered"] = serious_violations(page)
        finally:
            browser.close()

    assert {name: found for name, found in violations.items() if found} == {}

    # Then the scored response is stored and the coordinator sees its ODI % on the patient page
    stored = SurveyResponse.objects.get(event=FollowUpEvent.objects.get(procedure=procedure, event_code="early"))
    # Nine sections at 2, lifting at 4, walking at 1: (8 × 2 + 4 + 1) / 50 = 42 %
    assert stored.odi_percent == 42
    assert stored.vas == 6 and stored.language == "es" and stored.source == "link"
    page_html = client_for(coordinator_a).get(f"/patients/{patient.pk}/").content.decode()
    assert "42.0 %" in page_html
