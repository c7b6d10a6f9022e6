"""With a replica configured (DATABASE_REPLICA_URL), reports and dashboards read their data from it
and every write stays on the primary (registry/db_router.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from registry.db_router import REPLICA
from reports import services
from reports.loaders import CohortFilter
from reports.models import QuarterlyReport
from tests.reports.cohort import AS_OF, build_cohort

# Committed data: the replica alias is a second connection and sees only what is committed.
pytestmark = pytest.mark.django_db(transaction=True)
FRAME_QUERIES = 8  # reports.loaders.load_frames: one query per frame, in one read transaction


def _statements(queries) -> list[str]:
    """The statements run, without the read transaction's BEGIN, COMMIT and planner setting; a
    frame streamed from a server-side cursor is its SELECT behind a DECLARE."""
    statements = []
    for q in queries:
        sql = q["sql"].lstrip()
        if sql.upper() in ("BEGIN", "COMMIT") or sql.upper().startswith("SET LOCAL "):
            continue
        if sql.upper().startswith("DECLARE"):
            sql = sql[sql.upper().index(" CURSOR FOR ") + len(" CURSOR FOR ") :]
        statements.append(sql)
    return statements


@pytest.fixture
def configure_replica(monkeypatch):
    """A second alias on the test database, as the settings make one from DATABASE_REPLICA_URL."""

    def configure():
        monkeypatch.setitem(settings.DATABASES, REPLICA, {**connection.settings_dict, "TEST": {"MIRROR": "default"}})
        connections.settings[REPLICA] = settings.DATABASES[REPLICA]
        replica = connections[REPLICA]
        # Opened here: Django's test case refuses to open aliases it did not know when it started.
        replica.connect()
        return replica

    yield configure
    if REPLICA in connections.settings:
        connections[REPLICA].close()
        del connections[REPLICA]
        connections.settings.pop(REPLICA, None)


def _tables_read(queries) -> set[str]:
    """Clinical tables read, leaving out the rollups' refresh: a write, which belongs on the primary."""
    return {
        table
        for q in queries
        if "INSERT INTO rollups_" not in q["sql"]
        for table in ("procedures_procedure", "followup_surveyresponse")
        if table in q["sql"]
    }


def test_the_dashboard_reads_its_figures_from_the_replica(configure_replica, admin_user, site_a, site_b):
    # Given a registry, and its dashboard computed on the primary alone
    build_cohort(site_a, site_b)
    on_primary_only = services.dashboard_content(user=admin_user, cohort=CohortFilter(), as_of=AS_OF, use_cache=False)

    # When a replica is configured and the dashboard is computed again
    replica = configure_replica()
    with CaptureQueriesContext(replica) as read_there, CaptureQueriesContext(connection) as read_here:
        served = services.dashboard_content(user=admin_user, cohort=CohortFilter(), as_of=AS_OF, use_cache=False)

    # Then the frames came from the replica, nothing clinical from the primary, and the figures agree
    assert len(_statements(read_there)) == FRAME_QUERIES
    assert all(sql.upper().startswith("SELECT") for sql in _statements(read_there))
    assert _tables_read(read_there) == {"procedures_procedure", "followup_surveyresponse"}
    assert _tables_read(read_here) == set()
    assert served.tables == on_primary_only.tables
    assert served.patients == on_primary_only.patients


def test_the_quarterly_build_reads_from_the_replica_and_stores_on_the_primary(
    configure_replica, site_a, site_b, django_capture_on_commit_callbacks
):
    build_cohort(site_a, site_b)
    replica = configure_replica()

    with CaptureQueriesContext(replica) as read_there, CaptureQueriesContext(connection) as on_primary:
        built = services.quarterly_reports_build(year=2026, quarter=1, today=dt.date(2026, 4, 1))

    assert len(built) == 3  # two sites and the registry
    # The frames once, then each report's new-fracture section: all reads, all on the replica
    assert len(_statements(read_there)) > FRAME_QUERIES
    assert all(sql.upper().startswith("SELECT") for sql in _statements(read_there))
    assert _tables_read(read_there) == {"procedures_procedure", "followup_surveyresponse"}
    assert not [q for q in read_there if "reports_quarterlyreport" in q["sql"]]
    # Whether a report exists is asked of the primary (a lagging replica would build it twice),
    # and the reports are written there.
    stored = [q for q in on_primary if q["sql"].startswith('INSERT INTO "reports_quarterlyreport"')]
    assert len(stored) == 3
    assert _tables_read(on_primary) == set()
    assert QuarterlyReport.objects.using("default").filter(year=2026, quarter=1).count() == 3


def test_without_a_replica_the_reports_read_from_the_primary(admin_user, site_a, site_b):
    build_cohort(site_a, site_b)
    assert REPLICA not in settings.DATABASES
    with CaptureQueriesContext(connection) as read_here:
        services.dashboard_content(user=admin_user, cohort=CohortFilter(), as_of=AS_OF, use_cache=False)
    assert _tables_read(read_here) == {"procedures_procedure", "followup_surveyresponse"}
