"""Beat's dashboard snapshots: the views people open first come from one load of the data."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache

from reports import services
from reports.loaders import CohortFilter
from tests.reports.cohort import AS_OF, build_cohort

pytestmark = pytest.mark.django_db


@pytest.fixture
def snapshots(site_a, site_b):
    build_cohort(site_a, site_b)
    cache.clear()
    return services.dashboard_snapshots_refresh(as_of=AS_OF)


def _fresh(user, cohort):
    return services.dashboard_content(user=user, cohort=cohort, as_of=AS_OF, use_cache=False)


def test_a_sites_snapshot_reads_exactly_as_the_dashboard_computed_on_demand(
    snapshots, coordinator_a, site_a, django_assert_num_queries
):
    cohort = CohortFilter(site_ids=(site_a.id,))

    # When the coordinator opens their site's dashboard after the beat refresh
    with django_assert_num_queries(1):  # the user's memberships; no data is loaded
        served = services.dashboard_content(user=coordinator_a, cohort=cohort, as_of=AS_OF)

    # Then it is the snapshot, and every table reads as if computed from the database now
    assert served.suppressed is False
    assert served.tables == _fresh(coordinator_a, cohort).tables


def test_a_reviewers_snapshot_is_the_quarter_they_open_as_known_at_its_end(
    site_a, site_b, reviewer_a, django_assert_num_queries
):
    # Reviewers see one completed quarter as known at its end (reports.disclosure): that is the view
    # beat keeps for them, not the all-time one they can no longer open.
    build_cohort(site_a, site_b)
    cache.clear()
    today = dt.date(2026, 4, 15)
    services.dashboard_snapshots_refresh(as_of=today)
    cohort, known_then = services.reviewer_default_view(site_a.id, today=today)
    assert (cohort.performed_from, cohort.performed_to, known_then) == (
        dt.date(2026, 1, 1),
        dt.date(2026, 3, 31),
        dt.date(2026, 3, 31),
    )

    with django_assert_num_queries(1):  # the user's memberships; no data is loaded
        served = services.dashboard_content(user=reviewer_a, cohort=cohort, as_of=known_then)

    fresh = services.dashboard_content(user=reviewer_a, cohort=cohort, as_of=known_then, use_cache=False)
    assert served.suppressed is True
    assert served.patients == fresh.patients > 0
    assert served.tables == fresh.tables


def test_the_whole_registry_snapshot_is_what_an_administrator_opens(snapshots, admin_user, django_assert_num_queries):
    assert snapshots == 1 + 2 * 2  # the registry, and two sites seen two ways
    with django_assert_num_queries(0):
        served = services.dashboard_content(user=admin_user, cohort=CohortFilter(), as_of=AS_OF)
    assert served.tables == _fresh(admin_user, CohortFilter()).tables
    assert served.patients == _fresh(admin_user, CohortFilter()).patients


def test_filters_beyond_the_snapshots_are_computed_on_demand(snapshots, coordinator_a, site_a):
    cohort = CohortFilter(site_ids=(site_a.id,), procedure_type="PVP")
    assert cache.get(services.dashboard_cache_key(cohort, AS_OF, suppress=False, funnel=False)) is None
    served = services.dashboard_content(user=coordinator_a, cohort=cohort, as_of=AS_OF)
    assert served.tables == _fresh(coordinator_a, cohort).tables
