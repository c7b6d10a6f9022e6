"""Who sees what: reviewers see aggregates only (with small cells hidden), 404 elsewhere; sites
are limited to the user's own; the loaders stay set-based whatever the cohort size."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from reports import services
from reports.loaders import CohortFilter, load_frames
from reports.models import QuarterlyReport
from tests.factories import (
    CementLeakFactory,
    PatientFactory,
    ProcedureFactory,
    Role,
    TreatedLevelFactory,
    UserFactory,
    member,
)
from tests.reports import hand
from tests.reports.cohort import AS_OF, build_cohort

# Pages any signed-in user (or anyone) may open: the reviewer's aggregate pages and the
# account / technical pages. Every other page of the project is identified.
NOT_IDENTIFIED = {
    "home",
    "healthz",
    "login",
    "logout",
    "password_change",
    "password_change_done",
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
    "two_factor_setup",
    "two_factor_verify",
    "recovery_codes_new",
    "api:token_revoke",  # a client revokes its own API token(s)
    "api:token_revoke_all",
    "set_language",
    "reports:dashboard",
    "reports:quarterly_list",
    "reports:quarterly_detail",
    "reports:quarterly_file",
    "reports:monitoring",  # site monitoring: aggregates only (tests/fractures/test_monitoring_alerts.py)
    "reports:quarterly_rebuild",  # POST only, 404 for anyone but an administrator (test_quarterly)
}
# Patient-facing survey pages are opened with a token, not a login (registry.surveys / followup);
# the admin has its own login; the API's documentation holds no data.
PUBLIC_PREFIXES = ("s/", "admin/", "api/schema", "api/docs", "api/redoc", "api/swagger", "static/", "media/")


def _patterns(resolver: URLResolver, prefix: str = "", namespace: str = ""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _patterns(entry, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            yield f"{namespace}{entry.name}" if entry.name else None, prefix + str(entry.pattern), entry


def _concrete(route: str) -> str:
    """A URL for a route pattern, with 1 for every integer and a dummy for every other argument."""
    route = route.lstrip("^").rstrip("$")
    route = re.sub(r"<int:[^>]+>", "1", route)
    route = re.sub(r"<uuid:[^>]+>", "00000000-0000-0000-0000-000000000001", route)
    route = re.sub(r"<[^>]+>", "x", route)
    return "/" + route


def identified_urls():
    urls = []
    for name, route, _ in _patterns(get_resolver()):
        if name in NOT_IDENTIFIED or route.startswith(PUBLIC_PREFIXES) or "(?P" in route:
            continue
        urls.append(pytest.param(_concrete(route), id=name or route))
    return urls


@pytest.mark.parametrize("url", identified_urls())
def test_reviewer_gets_404_on_every_identified_page(url, reviewer_a, client_for):
    client = client_for(reviewer_a)

    statuses = {client.get(url).status_code, client.post(url, {}).status_code}

    # 405 is allowed for the method a page does not take (it says nothing about any record).
    assert statuses <= {404, 405} and 404 in statuses


def test_the_research_export_is_among_the_pages_checked():
    assert any(param.values[0] == reverse("reports:research_export") for param in identified_urls())


def test_reviewer_sees_the_dashboard_with_small_cells_as_under_five(site_a, site_b, reviewer_a, client_for):
    build_cohort(site_a, site_b)

    # Reviewers see one completed quarter: 2026 Q1 holds nine of site A's ten procedures.
    response = client_for(reviewer_a).get(
        reverse("reports:dashboard"), {"performed_from": "2026-01-01", "performed_to": "2026-03-31"}
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "&lt;5 / 9 (—)" in page  # e.g. patients with a symptomatic complication: 4 of 9
    assert hand.share(0, 11) in page  # levels with a posterior leak: no small cell, the full figure
    assert "<svg" in page and "Funnel plot" not in page


def test_reviewer_sees_only_their_sites_reports(site_a, site_b, reviewer_a, client_for):
    build_cohort(site_a, site_b)
    services.quarterly_reports_build(year=2026, quarter=1, today=dt.date(2026, 4, 1))
    own = QuarterlyReport.objects.get(site=site_a)
    other = QuarterlyReport.objects.get(site=site_b)
    registry = QuarterlyReport.objects.get(site__isnull=True)
    client = client_for(reviewer_a)

    listing = client.get(reverse("reports:quarterly_list")).content.decode()
    assert reverse("reports:quarterly_detail", args=[own.id]) in listing
    assert reverse("reports:quarterly_detail", args=[other.id]) not in listing
    assert client.get(reverse("reports:quarterly_detail", args=[own.id])).status_code == 200
    pdf = client.get(reverse("reports:quarterly_file", args=[own.id, "pdf"]))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    for report in (other, registry):
        assert client.get(reverse("reports:quarterly_detail", args=[report.id])).status_code == 404
        assert client.get(reverse("reports:quarterly_file", args=[report.id, "xlsx"])).status_code == 404


def test_dashboard_site_filter_offers_only_the_users_sites(site_a, site_b, coordinator_b, client_for):
    build_cohort(site_a, site_b)
    client = client_for(coordinator_b)

    response = client.get(reverse("reports:dashboard"), {"site": site_a.id})

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert response.context["content"] is None
    own = client.get(reverse("reports:dashboard"), {"site": site_b.id})
    assert own.context["content"].patients == 2


def test_administrator_sees_every_site_and_the_funnel_plot(site_a, site_b, admin_user, client_for):
    build_cohort(site_a, site_b)

    response = client_for(admin_user).get(reverse("reports:dashboard"))

    assert response.context["content"].patients == 12
    assert "Funnel plot" in response.content.decode()


def test_dashboard_explains_a_bad_period(site_a, coordinator_a, client_for):
    response = client_for(coordinator_a).get(
        reverse("reports:dashboard"), {"performed_from": "2026-03-01", "performed_to": "2026-01-01"}
    )

    assert "The end of the period is before its start." in response.content.decode()
    assert 'value="2026-03-01"' in response.content.decode()


def test_users_without_a_role_get_404(db, client_for):
    assert client_for(UserFactory(username="nobody")).get(reverse("reports:dashboard")).status_code == 404


def _add_cases(site, n):
    for _ in range(n):
        level = TreatedLevelFactory(procedure=ProcedureFactory(patient=PatientFactory(site=site)))
        CementLeakFactory(treated_level=level)


# One statement per frame (8), inside the read's transaction (here a savepoint and its release,
# inside the test's transaction) with its planner setting.
FRAME_QUERIES = 8 + 3


def test_loaders_use_the_same_few_queries_whatever_the_cohort_size(site_a, site_b, django_assert_num_queries):
    _add_cases(site_a, 2)
    with django_assert_num_queries(FRAME_QUERIES):
        small = load_frames(CohortFilter(), as_of=AS_OF)
    build_cohort(site_a, site_b)
    _add_cases(site_b, 20)
    with django_assert_num_queries(FRAME_QUERIES):
        large = load_frames(CohortFilter(site_ids=(site_a.id, site_b.id)), as_of=AS_OF)
    assert (len(small.levels), len(large.levels)) == (2, 2 + 15 + 20)


def test_dashboard_page_query_count_does_not_grow_with_the_cohort(
    site_a, site_b, admin_user, client_for, django_assert_max_num_queries
):
    client = client_for(admin_user)
    build_cohort(site_a, site_b)
    # 19 for the figures (the frames' read in a transaction of its own), 11 for the new-fracture
    # section (fractures selectors, change marker), 9 for the outcome rollups (refreshing the stale
    # partitions: claim, delete and insert; two reads).
    with django_assert_max_num_queries(39) as small:
        client.get(reverse("reports:dashboard"))
    _add_cases(site_a, 30)
    with django_assert_max_num_queries(len(small.captured_queries)):
        client.get(reverse("reports:dashboard"))


def test_reviewer_of_two_sites_sees_suppressed_figures_even_if_coordinator_of_one(site_a, site_b, db):
    user = member(UserFactory(username="mixed"), site_a, Role.COORDINATOR)
    member(user, site_b, Role.REVIEWER)

    assert services.dashboard_must_suppress(user, (site_a.id,)) is False
    assert services.dashboard_must_suppress(user, (site_a.id, site_b.id)) is True
