"""A refresh never loses a change it cannot see yet: a writer's marker stays locked until it
commits, the refresh skips it, and the next refresh takes it (issue #14: the database is the truth).
With ON CONFLICT DO NOTHING in the triggers the refresh would clear the marker and lose 5.0."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone

from registry.followup.models import SurveyResponse
from registry.rollups.models import OutcomeRollup, StalePartition
from registry.rollups.services import rollups_refresh
from tests.factories import PatientFactory, ProcedureFactory, SiteFactory


@pytest.mark.django_db(transaction=True)
def test_a_refresh_leaves_an_uncommitted_writers_partition_stale_for_the_next_one():
    site = SiteFactory(code="CON")
    procedure = ProcedureFactory(patient=PatientFactory(site=site), performed_on=dt.date(2026, 2, 2))
    response = SurveyResponse.objects.create(
        patient=procedure.patient, procedure=procedure, event_code="baseline", source="clinic",
        collected_on=dt.date(2026, 2, 1), vas=Decimal("7.0"), submitted_at=timezone.now(),
    )  # fmt: skip
    assert rollups_refresh() == 1
    # A first correction, committed: its partition's marker exists
    SurveyResponse.objects.filter(id=response.id).update(vas=Decimal("6.0"))
    assert StalePartition.objects.count() == 1
    written, release = threading.Event(), threading.Event()

    def writer():
        # A coordinator's correction, committed only after the refresh below has run
        try:
            with transaction.atomic():
                SurveyResponse.objects.filter(id=response.id).update(vas=Decimal("5.0"))
                written.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    assert written.wait(timeout=30)

    # While the writer has not committed, its upsert holds the marker: the refresh skips the
    # partition rather than clearing the marker with sums the writer's change is missing from
    assert rollups_refresh() == 0
    assert OutcomeRollup.objects.get(kind="score").vas_sum == 70

    release.set()
    thread.join()

    # After the commit the marker is there, and the next refresh applies the correction
    assert StalePartition.objects.count() == 1
    assert rollups_refresh() == 1
    assert OutcomeRollup.objects.get(kind="score").vas_sum == 50
