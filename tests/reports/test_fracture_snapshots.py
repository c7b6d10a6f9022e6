"""The dashboard's new-fracture section (Kaplan–Meier) of the views beat keeps is computed by beat,
not on the request (issue #14 item 5), even after the data changed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from registry.followup.models import SurveyResponse
from reports import fracture_marker, fracture_outcomes, services
from reports.loaders import CohortFilter
from tests.reports.cohort import AS_OF, build_cohort

pytestmark = pytest.mark.django_db


@pytest.fixture
def procedures(site_a, site_b):
    procedures = build_cohort(site_a, site_b)
    cache.clear()
    services.dashboard_snapshots_refresh(as_of=AS_OF)
    return procedures


def _section(cohort, *, suppress, as_of=AS_OF):
    return fracture_outcomes.dashboard_section(cohort=cohort, as_of=as_of, suppress=suppress)


def _computed(cohort, *, suppress, as_of=AS_OF):
    return fracture_outcomes.section_for(
        procedure_q=cohort.procedure_q(), site_ids=cohort.site_ids, as_of=as_of, suppress=suppress
    )


@pytest.mark.parametrize("suppress", [False, True])
def test_a_sites_section_comes_from_the_beat_snapshot_after_a_change(
    procedures, site_a, suppress, django_assert_num_queries
):
    # A coordinator's view is the site, all time, today; a reviewer's the last completed quarter
    cohort, as_of = (
        services.reviewer_default_view(site_a.id, today=AS_OF)
        if suppress
        else (CohortFilter(site_ids=(site_a.id,)), AS_OF)
    )
    expected = _computed(cohort, suppress=suppress, as_of=as_of)
    # Given a survey saved after beat's refresh, and the section's marker moved as its commit would
    a5 = procedures["A5"]
    marker = fracture_marker.read()
    SurveyResponse.objects.create(
        patient=a5.patient, procedure=a5, event_code="m3", source="phone", collected_on=dt.date(2026, 6, 1),
        vas=Decimal("3.0"), submitted_at=timezone.make_aware(dt.datetime(2026, 6, 1, 12)),
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # what the commit does first
    assert fracture_marker.read() != marker

    # When the site's dashboard asks for the section: one query (the marker), no curves
    with django_assert_num_queries(1):
        served = _section(cohort, suppress=suppress, as_of=as_of)

    # Then it is beat's snapshot, the same tables as computed before the change
    assert served.tables == expected.tables


def test_the_registry_section_comes_from_the_snapshot(procedures, django_assert_num_queries):
    with django_assert_num_queries(1):
        served = _section(CohortFilter(), suppress=False)
    assert served.tables == _computed(CohortFilter(), suppress=False).tables


def test_a_filter_beat_does_not_keep_is_computed_on_the_request(procedures, site_a):
    cohort = CohortFilter(site_ids=(site_a.id,), procedure_type="PKP")
    assert _section(cohort, suppress=True).tables == _computed(cohort, suppress=True).tables
