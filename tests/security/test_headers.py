"""Content-Security-Policy without 'unsafe-inline' and a Permissions-Policy on application, survey
and API-documentation pages; and those pages still work under it in a real browser (Chromium)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]

# One page of each kind: log-in, an identified list, case entry (its own script), the dashboard,
# a patient's survey link (unknown), and the API schema and documentation.
PAGES = ["/accounts/login/", "/patients/", "/cases/new/", "/reports/", "/s/not-a-real-link-0000/", "/api/docs/"]
API_DOC_PAGES = ["/api/docs/", "/api/docs/?script=", "/api/redoc/", "/api/schema/"]


def _policy(response) -> dict[str, list[str]]:
    return {
        directive.split()[0]: directive.split()[1:]
        for directive in response["Content-Security-Policy"].split(";")
        if directive.strip()
    }


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES + API_DOC_PAGES)
def test_pages_forbid_inline_code_and_other_origins(path, coordinator_a, client_for):
    response = client_for(coordinator_a).get(path)

    assert response.status_code in (200, 302, 404), response.status_code
    policy = _policy(response)
    assert policy["script-src"] == ["'self'"]
    # Styles: the site's files, plus a nonce or fixed hashes where a page needs them (Redoc).
    assert policy["style-src"][0] == "'self'"
    assert all(source.startswith(("'nonce-", "'sha256-")) for source in policy["style-src"][1:])
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "http" not in response["Content-Security-Policy"]
    assert "camera=()" in response["Permissions-Policy"]
    assert "geolocation=()" in response["Permissions-Policy"]


def test_anonymous_survey_pages_carry_the_headers_too(db):
    response = Client().get("/s/not-a-real-link-0000/")

    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "microphone=()" in response["Permissions-Policy"]


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"<style\b", re.I), "<style> element"),
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "event-handler attribute"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


def _served_templates():
    for template in sorted(ROOT.glob("**/templates/**/*.html")):
        relative = template.relative_to(ROOT).as_posix()
        if relative.startswith((".venv/", "var/")) or "/email/" in relative:
            continue  # emails are read in mail programs, not under the site's CSP
        if relative.endswith("reports/quarterly_report.html"):
            continue  # a self-contained document (download); served with its own script-free policy
        yield relative, template.read_text()


def test_no_template_has_inline_script_style_or_handler():
    found = [
        f"{name}: {what}" for name, text in _served_templates() for pattern, what in INLINE if pattern.search(text)
    ]
    assert found == []


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_pages_and_api_docs_work_under_the_policy_in_chromium(live_server, coordinator_a, client_for, settings):
    from playwright.sync_api import sync_playwright

    session = client_for(coordinator_a).cookies[settings.SESSION_COOKIE_NAME].value
    violations: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}])
            page = context.new_page()
            page.on(
                "console",
                lambda message: (
                    violations.append(f"{page.url}: {message.text}")
                    # Redoc's "API docs by Redocly" badge points at their CDN: the policy keeps the
                    # browser from fetching it, as it should.
                    if "Content Security Policy" in message.text and "cdn.redoc.ly" not in message.text
                    else None
                ),
            )
            for path in PAGES:
                page.goto(live_server.url + path)
                page.wait_for_load_state("load")

            # Swagger UI and Redoc render the registry's schema (their scripts and styles ran).
            page.goto(live_server.url + "/api/docs/")
            page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
            assert "Vertebral augmentation registry API" in page.inner_text(".swagger-ui .info .title")
            page.goto(live_server.url + "/api/redoc/")
            page.wait_for_selector("h1", timeout=30_000)
            assert "Vertebral augmentation registry API" in page.inner_text("h1")
            assert page.evaluate("getComputedStyle(document.querySelector('h1')).fontWeight") != ""
        finally:
            browser.close()

    assert violations == []


@pytest.mark.django_db
def test_dashboard_charts_keep_their_colours_without_inline_css(site_a, site_b, reviewer_a, client_for):
    from tests.reports.cohort import build_cohort

    build_cohort(site_a, site_b)

    page = client_for(reviewer_a).get("/reports/").content.decode()

    charts = re.findall(r"<svg.*?</svg>", page, re.S)
    assert charts
    assert not [chart for chart in charts if "style=" in chart or "<style" in chart]
    # Vertebroplasty's colour is still drawn, as a presentation attribute the policy allows.
    assert re.search(r'(fill|stroke)="#0b5cad"', "".join(charts))
