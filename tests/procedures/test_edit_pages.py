"""Edit pages for procedures, levels, leaks and complications: audited, confirmations, errors in place."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from registry.procedures.models import CementLeak, CementLot, Complication, TreatedLevel
from tests.factories import CementLotFactory, PatientFactory, TreatedLevelFactory
from tests.procedures.builders import SCAN, days_ago, kit_product


@pytest.fixture
def level(site_a):
    lot = CementLotFactory(
        product=kit_product(), lot_number="AB-1", lot_number_normalised="AB1", expires_on=days_ago(-300)
    )
    return TreatedLevelFactory(
        procedure__patient=PatientFactory(site=site_a), procedure__performed_on=days_ago(20), cement_lot=lot
    )


def level_post(level, **overrides):
    data = {
        "levels-0-level": str(level.level),
        "levels-0-approach": "bipedicular",
        "levels-0-cement_volume_ml": "2.0",
        "levels-0-product": str(level.cement_lot.product_id),
        "levels-0-lot_number": level.cement_lot.lot_number,
        "levels-0-lot_expires_on": "",
        "action": "save",
    }
    data.update(
        {f"levels-0-{k}" if not k.startswith(("action", "confirm", "warnings")) else k: v for k, v in overrides.items()}
    )
    return data


def test_editing_a_level_above_7_ml_asks_then_saves_on_confirmation(client_for, coordinator_a, level):
    client = client_for(coordinator_a)
    url = reverse("procedures:level_edit", args=[level.pk])

    first = client.post(url, level_post(level, cement_volume_ml="8.5"))
    assert first.status_code == 200 and "above 7 mL" in first.content.decode()
    assert 'value="8.5"' in first.content.decode()
    level.refresh_from_db()
    assert level.cement_volume_ml == Decimal("2.0")

    digest = first.context["warnings_digest"]
    confirmed = client.post(
        url, level_post(level, cement_volume_ml="8.5", confirm_warnings="1", warnings_digest=digest)
    )
    assert confirmed.status_code == 302
    level.refresh_from_db()
    assert level.cement_volume_ml == Decimal("8.5")
    assert level.history.first().history_user == coordinator_a


def test_editing_a_level_out_of_range_shows_the_error_next_to_the_field(client_for, coordinator_a, level):
    response = client_for(coordinator_a).post(
        reverse("procedures:level_edit", args=[level.pk]), level_post(level, cement_volume_ml="0", needle_gauge="16")
    )
    html = response.content.decode()
    assert "greater than or equal to 0.1" in html and "less than or equal to 15" in html
    level.refresh_from_db()
    assert level.cement_volume_ml == Decimal("2.0")


def test_adding_a_level_by_scanning_the_kit(client_for, coordinator_a, level):
    client = client_for(coordinator_a)
    url = reverse("procedures:level_add", args=[level.procedure_id])
    data = {
        "levels-0-scan": SCAN,
        "levels-0-level": "19",
        "levels-0-approach": "unipedicular",
        "levels-0-cement_volume_ml": "1.5",
        "action": "save",
    }

    response = client.post(url, data)

    assert response.status_code == 302, response.content.decode()[-3000:]
    added = TreatedLevel.objects.get(procedure=level.procedure, level=19)
    assert (added.cement_lot.lot_number, added.cement_lot.expires_on) == ("AB12345", dt.date(2027, 12, 31))
    assert added.viscosity == "high"  # the product's default


def test_adding_a_leak_and_a_complication_from_the_patient_page(client_for, coordinator_a, level):
    client = client_for(coordinator_a)
    response = client.post(
        reverse("procedures:complication_add", args=[level.procedure_id]),
        {
            "complication_type": "neuro_radiculopathy",
            "severity": "mild",
            "onset_on": days_ago(19).isoformat(),
            "found_at": "before_discharge",
            "symptomatic": "on",
            "outcome": "resolved",
            "resolved_on": days_ago(5).isoformat(),
            "treated_level": str(level.pk),
        },
    )
    assert response.status_code == 302
    complication = Complication.objects.get()
    response = client.post(
        reverse("procedures:leak_add", args=[level.pk]),
        {"location": "foraminal", "detected_by": "ct", "symptomatic": "on"},
    )
    assert "must be linked to a complication" in response.content.decode()
    response = client.post(
        reverse("procedures:leak_add", args=[level.pk]),
        {"location": "foraminal", "detected_by": "ct", "symptomatic": "on", "complication": str(complication.pk)},
    )
    assert response.status_code == 302
    assert CementLeak.objects.get().complication == complication


def test_complication_onset_before_the_procedure_is_refused_on_the_page(client_for, coordinator_a, level):
    response = client_for(coordinator_a).post(
        reverse("procedures:complication_add", args=[level.procedure_id]),
        {
            "complication_type": "other",
            "severity": "mild",
            "onset_on": days_ago(21).isoformat(),
            "found_at": "other",
            "outcome": "ongoing",
        },
    )
    assert "Onset is before the procedure" in response.content.decode()
    assert not Complication.objects.exists()


def test_moving_the_procedure_date_past_the_lot_expiry_asks_for_confirmation(client_for, coordinator_a, site_a):
    lot = CementLotFactory(
        product=kit_product(), lot_number="OLD", lot_number_normalised="OLD", expires_on=days_ago(15)
    )
    level = TreatedLevelFactory(
        procedure__patient=PatientFactory(site=site_a), procedure__performed_on=days_ago(20), cement_lot=lot
    )
    procedure = level.procedure
    url = reverse("procedures:edit", args=[procedure.pk])
    data = {
        "procedure-performed_on": days_ago(10).isoformat(),
        "procedure-operator": procedure.operator,
        "procedure-setting": procedure.setting,
        "procedure-procedure_type": procedure.procedure_type,
        "procedure-indication": procedure.indication,
        "procedure-anaesthesia": procedure.anaesthesia,
        "procedure-guidance": procedure.guidance,
        "procedure-radiotherapy": "none",
        "procedure-post_neuro_check": "normal",
    }
    client = client_for(coordinator_a)
    first = client.post(url, data)
    assert "expired on" in first.content.decode()
    procedure.refresh_from_db()
    assert procedure.performed_on == days_ago(20)
    client.post(url, {**data, "confirm_warnings": "1", "warnings_digest": first.context["warnings_digest"]})
    procedure.refresh_from_db()
    assert procedure.performed_on == days_ago(10)


def test_removing_a_level_from_its_page(client_for, coordinator_a, level):
    response = client_for(coordinator_a).post(reverse("procedures:level_delete", args=[level.pk]))
    assert response.status_code == 302
    assert not TreatedLevel.objects.filter(pk=level.pk).exists()
    assert CementLot.objects.exists()  # the lot stays in the catalogue
