"""The new-case page in a real browser: rows added in place and a scanner filling the kit."""

import os
import shutil

import pytest
from django.conf import settings

from registry.procedures.models import CementLeak, Procedure, TreatedLevel
from tests.procedures.builders import SCAN, days_ago, kit_product

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")

# Rows written by data migrations (the follow-up protocol) are reloaded by tests/conftest.py.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser_page(live_server, coordinator_a, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls here are still sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    playwright = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM:
        pytest.fail("No Chromium found: set CHROMIUM_PATH")
    from django.test import Client

    client = Client()
    client.force_login(coordinator_a)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context()
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}])
        page = context.new_page()
        yield page
        browser.close()


def test_a_coordinator_enters_a_two_level_kyphoplasty_in_the_browser(browser_page, live_server, site_a):
    kit_product()
    from playwright.sync_api import expect

    page = browser_page
    page.goto(f"{live_server.url}/cases/new/")

    page.fill("#id_patient-mrn", "H-42")
    page.fill("#id_patient-given_name", "Pilar")
    page.fill("#id_patient-family_name", "Martín")
    page.fill("#id_patient-date_of_birth", "1944-04-04")
    page.select_option("#id_patient-sex", "female")
    page.select_option("#id_patient-consent_status", "consented")
    page.fill("#id_patient-consent_date", days_ago(3).isoformat())

    page.fill("#id_procedure-performed_on", days_ago(3).isoformat())
    page.fill("#id_procedure-operator", "Dr Vega")
    page.select_option("#id_procedure-procedure_type", "PKP")
    page.select_option("#id_procedure-indication", "osteoporotic")
    page.select_option("#id_procedure-anaesthesia", "general")
    page.select_option("#id_procedure-guidance", "biplane")

    # The scanner types the element string and Enter: the row fills, nothing is submitted.
    page.fill("#id_levels-0-scan", SCAN)
    page.press("#id_levels-0-scan", "Enter")
    expect(page.locator("#id_levels-0-lot_number")).to_have_value("AB12345")
    assert page.input_value("#id_levels-0-lot_expires_on") == "2027-12-31"
    page.select_option("#id_levels-0-level", label="T12")
    page.select_option("#id_levels-0-approach", "bipedicular")
    page.fill("#id_levels-0-cement_volume_ml", "2.5")

    page.fill("#id_levels-1-scan", SCAN)
    page.press("#id_levels-1-scan", "Enter")
    expect(page.locator("#id_levels-1-lot_number")).to_have_value("AB12345")
    page.select_option("#id_levels-1-level", label="L1")
    page.select_option("#id_levels-1-approach", "bipedicular")
    page.fill("#id_levels-1-cement_volume_ml", "2.0")

    # A third row appears without a page load, then is not used.
    page.click("button[data-add=levels]")
    assert page.locator("#id_levels-2-level").count() == 1
    assert page.input_value("input[name=levels-TOTAL_FORMS]") == "3"

    page.select_option("#id_leaks-0-level", label="L1")
    page.select_option("#id_leaks-0-location", "disc_superior")
    page.select_option("#id_leaks-0-detected_by", "fluoroscopy")
    page.check("#id_leaks-0-symptomatic")
    page.select_option("#id_leaks-0-complication_number", "1")

    page.select_option("#id_complications-0-complication_type", "embolism_pulmonary")
    page.select_option("#id_complications-0-severity", "moderate")
    page.fill("#id_complications-0-onset_on", days_ago(3).isoformat())
    page.select_option("#id_complications-0-found_at", "during_procedure")
    page.check("#id_complications-0-symptomatic")

    page.click("button[value=save]")
    page.wait_for_url("**/patients/*/")

    assert "Balloon kyphoplasty" in page.content()
    assert "Audit history" in page.content()
    assert Procedure.objects.count() == 1 and TreatedLevel.objects.count() == 2
    assert CementLeak.objects.get().complication.complication_type == "embolism_pulmonary"
