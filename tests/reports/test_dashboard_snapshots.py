"""Beat's dashboard snapshots: the views people open first come from one load of the data."""

from __future__ import annotations

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


@pytest.mark.parametrize("persona", ["coordinator_a", "reviewer_a"])
def test_a_sites_snapshot_reads_exactly_as_the_dashboard_computed_on_demand(
    snapshots, persona, request, site_a, django_assert_num_queries
):
    user = request.getfixturevalue(persona)
    cohort = CohortFilter(site_ids=(site_a.id,))

    # When the user opens their site's dashboard after the beat refresh
    with django_assert_num_queries(1):  # the user's memberships; no data is loaded
        served = services.dashboard_content(user=user, cohort=cohort, as_of=AS_OF)

    # Then it is the snapshot, and every table reads as if computed from the database now
    assert served.suppressed is (persona == "reviewer_a")
    assert served.tables == _fresh(user, cohort).tables


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
