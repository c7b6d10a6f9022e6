"""In a real browser: a "new fracture: yes" reaches the worklist, the coordinator records the
fracture, the patient page shows its adjacency and the dashboard's Kaplan–Meier figures change.

Debian's Chromium driven by Playwright's sync API (as tests/surveys/test_browser.py), the app
served by pytest-django's ``live_server``; real dates (no frozen clock) so that the dashboard's
"today" and the survey window agree.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil

import pytest
from django.conf import settings
from django.utils import timezone

from registry.followup import services as followup_services
from registry.followup.models import FollowUpEvent
from registry.procedures.models import VertebralLevel
from tests.factories import PatientFactory, ProcedureFactory, TreatedLevelFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(autouse=True)
def clock():
    """Real time here: overrides the frozen clock of tests/fractures/conftest.py."""


def km_all_patients_row(page) -> list[str]:
    row = page.locator("#table-km_new_fracture tbody tr").first
    return [cell.strip() for cell in row.locator("th, td").all_inner_texts()]


def test_survey_yes_to_worklist_to_fracture_to_patient_page_to_dashboard(
    live_server, site_a, coordinator_a, monkeypatch
):
    from playwright.sync_api import expect, sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    today = timezone.localdate()
    # Given a patient whose T12 was treated 100 days ago: the 3-month survey window is open.
    patient = PatientFactory(site=site_a, given_name="Carmen", family_name="Ruiz")
    procedure = ProcedureFactory(patient=patient, performed_on=today - dt.timedelta(days=100))
    TreatedLevelFactory(procedure=procedure, level=VertebralLevel.T12)
    followup_services.followup_schedule_procedure(procedure_id=procedure.pk)
    m3 = FollowUpEvent.objects.get(procedure=procedure, event_code="m3")

    from django.test import Client

    client = Client()
    client.force_login(coordinator_a)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            context = browser.new_context()
            context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}])
            page = context.new_page()
            # The first dashboard draws every chart (seconds on a loaded machine); no timing is asserted.
            page.set_default_timeout(180_000)

            # The dashboard before: one patient, no new fracture.
            page.goto(f"{live_server.url}/reports/")
            assert km_all_patients_row(page)[:3] == ["All patients", "1", "0"]
            curve_before = page.locator("#fracture-outcomes svg").first.inner_html()

            # The coordinator enters the 3-month survey taken by phone: "new fracture: yes".
            page.goto(f"{live_server.url}/s/entry/{patient.pk}/{m3.pk}/")
            page.select_option("select[name=source]", "phone")
            page.fill("input[name=collected_on]", today.isoformat())
            page.check("input[name=new_fracture][value=yes]")
            page.locator("form button[type=submit]").last.click()
            page.wait_for_load_state()

            # The worklist asks to confirm the new fracture.
            page.goto(f"{live_server.url}/worklist/")
            expect(page.locator("main")).to_contain_text("Confirm new fracture")
            page.get_by_role("link", name="Record the fracture").click()

            # The coordinator records L1 (next to T12, across the junction) and T5, on MRI.
            expect(page.locator("h1")).to_contain_text(patient.study_id)
            page.get_by_label("L1", exact=True).check()
            page.get_by_label("T5", exact=True).check()
            page.fill("input[name=diagnosed_on]", (today - dt.timedelta(days=2)).isoformat())
            page.select_option("select[name=confirmed_by]", "mri")
            page.check("input[name=symptomatic][value=yes]")
            page.get_by_role("button", name="Record fracture").click()

            # The patient page shows each level's class, computed by the registry.
            section = page.locator("#new-fractures")
            expect(section).to_contain_text("L1: Adjacent level")
            expect(section).to_contain_text("T5: Remote level")
            expect(section).to_contain_text("thoracolumbar junction")

            # The worklist item is done.
            page.goto(f"{live_server.url}/worklist/")
            expect(page.locator("main")).not_to_contain_text("Record the fracture")

            # The dashboard now counts the event and draws a different curve.
            page.goto(f"{live_server.url}/reports/")
            assert km_all_patients_row(page)[:3] == ["All patients", "1", "1"]
            assert page.locator("#fracture-outcomes svg").first.inner_html() != curve_before
        finally:
            browser.close()
