"""A patient treated on day 0 (DAY0) at site A, and instants counted from it in site time."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.factories import PatientFactory, ProcedureFactory, TreatedLevelFactory
from tests.followup.conftest import DAY0, FrozenClock, at, record_procedure  # noqa: F401


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    from django.utils import timezone

    frozen = FrozenClock(at(120, 12))
    monkeypatch.setattr(timezone, "now", frozen)
    return frozen


def treated_patient(site, *levels, performed_on: dt.date = DAY0, **procedure_fields):
    patient = PatientFactory(site=site)
    procedure = ProcedureFactory(patient=patient, performed_on=performed_on, **procedure_fields)
    for level in levels:
        TreatedLevelFactory(procedure=procedure, level=level)
    return patient, procedure
