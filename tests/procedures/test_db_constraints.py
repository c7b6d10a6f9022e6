"""The database itself refuses out-of-range values: nothing slips in through bulk writes or imports."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from registry.patients.models import Patient
from registry.procedures.models import CementLeak, CementLot, Complication, Procedure, TreatedLevel
from tests.factories import (
    CementLeakFactory,
    CementLotFactory,
    ComplicationFactory,
    PatientFactory,
    ProcedureFactory,
    TreatedLevelFactory,
)


def refused(queryset, **values) -> bool:
    try:
        with transaction.atomic():
            queryset.update(**values)
    except IntegrityError:
        return True
    return False


@pytest.mark.parametrize(
    ("values", "ok"),
    [
        ({"cement_volume_ml": Decimal("0")}, False),
        ({"cement_volume_ml": Decimal("0.1")}, True),
        ({"cement_volume_ml": Decimal("15")}, True),
        ({"cement_volume_ml": Decimal("15.1")}, False),
        ({"needle_gauge": 7}, False),
        ({"needle_gauge": 8}, True),
        ({"needle_gauge": 15}, True),
        ({"needle_gauge": 16}, False),
        ({"height_loss_percent": 100}, True),
        ({"height_loss_percent": 101}, False),
        ({"vertebral_body_volume_cc": Decimal("0")}, False),
        ({"vertebral_body_volume_cc": Decimal("200.1")}, False),
        ({"level": 0}, False),
        ({"level": 26}, False),
    ],
)
def test_treated_level_check_constraints(db, values, ok):
    level = TreatedLevelFactory()
    assert refused(TreatedLevel.objects.filter(pk=level.pk), **values) is not ok


def test_a_level_once_per_procedure_in_the_database(db):
    level = TreatedLevelFactory(level=20)
    with pytest.raises(IntegrityError), transaction.atomic():
        TreatedLevel.objects.bulk_create(
            [
                TreatedLevel(
                    procedure=level.procedure,
                    level=20,
                    approach="unipedicular",
                    cement_lot=level.cement_lot,
                    cement_volume_ml=1,
                )
            ]
        )


def test_a_symptomatic_leak_needs_a_complication_in_the_database(db):
    leak = CementLeakFactory()
    assert refused(CementLeak.objects.filter(pk=leak.pk), symptomatic=True)
    complication = ComplicationFactory(procedure=leak.treated_level.procedure)
    assert not refused(CementLeak.objects.filter(pk=leak.pk), symptomatic=True, complication=complication)


@pytest.mark.parametrize(
    ("values", "ok"),
    [
        ({"fluoroscopy_seconds": 7200}, True),
        ({"fluoroscopy_seconds": 7201}, False),
        ({"dose_area_product": Decimal("1000")}, True),
        ({"dose_area_product": Decimal("1000.01")}, False),
        ({"dose_area_product": Decimal("-1")}, False),
        ({"baseline_karnofsky": 70}, True),
        ({"baseline_karnofsky": 75}, False),
    ],
)
def test_procedure_check_constraints(db, values, ok):
    procedure = ProcedureFactory()
    assert refused(Procedure.objects.filter(pk=procedure.pk), **values) is not ok


@pytest.mark.parametrize(
    ("values", "ok"),
    [
        ({"lowest_t_score": Decimal("-7.0")}, True),
        ({"lowest_t_score": Decimal("-7.1")}, False),
        ({"lowest_t_score": Decimal("4.1")}, False),
        ({"karnofsky": 60}, True),
        ({"karnofsky": 65}, False),
        ({"asa_class": 0}, False),
        ({"asa_class": 6}, False),
        ({"consent_status": "consented", "consent_date": None}, False),
    ],
)
def test_patient_check_constraints(db, values, ok):
    patient = PatientFactory()
    assert refused(Patient.objects.filter(pk=patient.pk), **values) is not ok


def test_death_before_birth_is_refused_by_the_database(db):
    patient = PatientFactory()
    assert refused(Patient.objects.filter(pk=patient.pk), deceased_on=patient.date_of_birth.replace(year=1900))


def test_complication_resolved_before_onset_is_refused_by_the_database(db):
    complication = ComplicationFactory()
    assert refused(
        Complication.objects.filter(pk=complication.pk), resolved_on=complication.onset_on.replace(year=2000)
    )


def test_a_lot_needs_a_number_and_is_unique_per_product_once_normalised(db):
    lot = CementLotFactory(lot_number="AB-1", lot_number_normalised="AB1")
    assert refused(CementLot.objects.filter(pk=lot.pk), lot_number_normalised="")
    with pytest.raises(IntegrityError), transaction.atomic():
        CementLotFactory(product=lot.product, lot_number="ab 1", lot_number_normalised="AB1")
