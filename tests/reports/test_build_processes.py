"""A quarterly build composes its reports in forked processes (settings.REPORT_BUILD_PROCESSES):
the same files as one process, and a child never touches the parent's database connection."""

from __future__ import annotations

import datetime as dt
import io
import os
import time

import pytest
from django.db import connection
from openpyxl import load_workbook

from reports import services
from reports.loaders import CohortFilter, load_frames
from tests.reports.cohort import build_cohort

TODAY = dt.date(2026, 4, 1)


@pytest.fixture
def build_inputs(site_a, site_b):
    build_cohort(site_a, site_b)
    _, end = services.quarter_bounds(2026, 1)
    frames = load_frames(CohortFilter(performed_to=end), as_of=end)
    built_at = dt.datetime(2026, 4, 1, 2, 0, tzinfo=dt.UTC)
    inputs = [
        services.quarterly_inputs(frames, site=site, year=2026, quarter=1, version=1, built_at=built_at)
        for site in (None, site_a, site_b)
    ]
    return frames, inputs


def _cells(xlsx: bytes) -> list:
    workbook = load_workbook(io.BytesIO(xlsx), read_only=True)
    return [(sheet.title, list(sheet.iter_rows(values_only=True))) for sheet in workbook.worksheets]


def test_reports_composed_in_processes_equal_those_composed_in_one(build_inputs):
    frames, inputs = build_inputs

    alone = services.artifacts_for_all(frames, inputs, processes=1)
    forked = services.artifacts_for_all(frames, inputs, processes=2)

    assert len(forked) == 3
    for one, other in zip(alone, forked, strict=True):
        assert other.html == one.html
        assert other.pdf == one.pdf  # reportlab's invariant mode: the same bytes for the same content
        assert _cells(other.xlsx) == _cells(one.xlsx)
    # In order: the registry's report first, then each site's.
    assert "Whole registry" in forked[0].html and inputs[1].site.code in forked[1].html
    # The parent's connection is still usable after the children exit.
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_a_child_that_queries_the_database_fails_the_build_loudly(build_inputs, monkeypatch):
    frames, inputs = build_inputs

    def composes_with_a_query(frames, item):
        from registry.patients.models import Site

        Site.objects.count()

    monkeypatch.setattr(services, "quarterly_artifacts", composes_with_a_query)
    with pytest.raises(RuntimeError, match="must not use the database"):
        services.artifacts_for_all(frames, inputs, processes=2)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_a_child_that_never_finishes_is_stopped_and_fails_the_build(build_inputs, monkeypatch, settings):
    frames, inputs = build_inputs
    settings.REPORT_BUILD_CHILD_SECONDS = 2
    parent = os.getpid()

    def composes_forever_in_a_child(frames, item):
        while os.getpid() != parent:
            time.sleep(1)

    monkeypatch.setattr(services, "quarterly_artifacts", composes_forever_in_a_child)
    with pytest.raises(RuntimeError, match="did not finish within 2 s"):
        services.artifacts_for_all(frames, inputs, processes=2)


def test_a_process_that_finishes_early_takes_the_reports_still_waiting(build_inputs, monkeypatch):
    frames, inputs = build_inputs
    parent = os.getpid()
    waiting = [*inputs, inputs[1], inputs[2]]  # five reports for two processes

    def composes(frames, item):
        if os.getpid() == parent:
            time.sleep(2)  # the registry's report, the largest, keeps the build's own process busy
        return services.Artifacts(html=str(os.getpid()), pdf=b"", xlsx=b"")

    monkeypatch.setattr(services, "quarterly_artifacts", composes)
    made = services.artifacts_for_all(frames, waiting, processes=2)

    composers = [int(artifacts.html) for artifacts in made]
    assert composers[0] == parent  # the first report is the build's own process's
    # The child took the other four, one at a time, while the parent was busy: none waited for it.
    assert len(set(composers[1:])) == 1 and composers[1] != parent
