"""The "new case" flow, as a coordinator uses it: one page, any number of levels, scan, confirm."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from registry.patients.models import Patient
from registry.procedures.models import CementLeak, CementLot, Complication, Procedure, TreatedLevel, VertebralLevel
from tests.factories import PatientFactory
from tests.procedures.builders import GTIN, SCAN, days_ago, kit_product

URL = reverse("procedures:new_case")


def management(prefix, total):
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "50",
    }


def new_patient(site, **overrides):
    data = {
        "patient_mode": "new",
        "patient-site": str(site.pk),
        "patient-mrn": "H-777",
        "patient-given_name": "Dolores",
        "patient-family_name": "Ruiz",
        "patient-date_of_birth": "1938-02-11",
        "patient-sex": "female",
        "patient-email": "dolores@example.test",
        "patient-phone": "+34 600 000 777",
        "patient-preferred_language": "es",
        "patient-consent_status": "consented",
        "patient-consent_date": days_ago(12).isoformat(),
        "patient-consent_form_version": "v2",
        "patient-osteoporosis_therapy": "none",
        "patient-lowest_t_score": "-3.1",
    }
    data.update(overrides)
    return data


def procedure_fields(**overrides):
    data = {
        "procedure-performed_on": days_ago(10).isoformat(),
        "procedure-operator": "Dr Vega",
        "procedure-setting": "inpatient",
        "procedure-procedure_type": "PKP",
        "procedure-indication": "osteoporotic",
        "procedure-anaesthesia": "general",
        "procedure-guidance": "biplane",
        "procedure-radiotherapy": "none",
        "procedure-post_neuro_check": "normal",
        "procedure-risks_consented": "on",
        "procedure-fluoroscopy_seconds": "240",
    }
    data.update(overrides)
    return data


def level_fields(i, level, *, product=None, lot="AB-12345", volume="2.4", **overrides):
    data = {
        f"levels-{i}-level": str(int(level)),
        f"levels-{i}-approach": "bipedicular",
        f"levels-{i}-needle_gauge": "11",
        f"levels-{i}-cement_volume_ml": volume,
        f"levels-{i}-product": str(product.pk) if product else "",
        f"levels-{i}-lot_number": lot,
        f"levels-{i}-lot_expires_on": "",
        f"levels-{i}-balloon_inflated": "true",
    }
    data.update({f"levels-{i}-{k}": v for k, v in overrides.items()})
    return data


def two_level_kyphoplasty(site, product, **extra):
    """The issue's example: T12 and L1, an intradiscal leak at L1 causing a pulmonary embolism."""
    data = {
        **new_patient(site),
        **procedure_fields(),
        **management("levels", 3),
        **level_fields(0, VertebralLevel.T12, product=product, vertebral_body_volume_cc="24.0"),
        **level_fields(1, VertebralLevel.L1, product=product, lot="ab 12345"),
        **management("leaks", 2),
        "leaks-0-level": str(int(VertebralLevel.L1)),
        "leaks-0-location": "disc_superior",
        "leaks-0-size_grade": "minor",
        "leaks-0-detected_by": "fluoroscopy",
        "leaks-0-symptomatic": "on",
        "leaks-0-complication_number": "1",
        **management("complications", 1),
        "complications-0-complication_type": "embolism_pulmonary",
        "complications-0-severity": "moderate",
        "complications-0-onset_on": days_ago(10).isoformat(),
        "complications-0-found_at": "during_procedure",
        "complications-0-symptomatic": "on",
        "complications-0-management": "anticoagulation",
        "complications-0-outcome": "ongoing",
        "complications-0-level": str(int(VertebralLevel.L1)),
        "action": "save",
    }
    data.update(extra)
    return data


@pytest.fixture
def product(db):
    return kit_product()


def test_the_page_offers_empty_rows_and_works_without_javascript(client_for, coordinator_a):
    response = client_for(coordinator_a).get(URL)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="levels-1-level"' in html  # two empty level rows without JS
    assert 'name="leaks-1-location"' in html
    assert 'name="complications-0-complication_type"' in html
    assert 'value="add_level"' in html  # "add a level" works as a plain submit too
    assert "levels-__prefix__-level" in html  # template row for the JS


def test_a_two_level_kyphoplasty_with_a_leak_and_an_embolism_is_saved_and_shown(
    client_for, coordinator_a, site_a, product
):
    client = client_for(coordinator_a)

    response = client.post(URL, two_level_kyphoplasty(site_a, product))

    patient = Patient.objects.get()
    assert response.status_code == 302, response.content.decode()[:3000]
    assert response["Location"] == reverse("patients:detail", args=[patient.pk])
    procedure = Procedure.objects.get()
    assert procedure.procedure_type == "PKP" and procedure.patient == patient
    assert sorted(procedure.levels.values_list("level", flat=True)) == [VertebralLevel.T12, VertebralLevel.L1]
    assert CementLot.objects.get().lot_number == "AB-12345"  # "ab 12345" is the same lot
    leak = CementLeak.objects.get()
    assert leak.treated_level.level == VertebralLevel.L1 and leak.symptomatic
    assert leak.complication == Complication.objects.get(complication_type="embolism_pulmonary")
    assert patient.consent_events.get().status == "consented"

    page = client.get(response["Location"]).content.decode()
    assert patient.study_id in page
    assert "Balloon kyphoplasty" in page
    assert "Intradiscal — superior disc" in page
    assert "Cement embolism — pulmonary (PCE)" in page
    assert "10.0 %" in page  # T12 fill: 2.4 / 24.0
    assert "Audit history" in page and "coord_a" in page or "Ana" in page


def test_an_existing_patient_can_be_picked_by_study_id(client_for, coordinator_a, site_a, product):
    patient = PatientFactory(site=site_a, study_id="TOL-000042")
    data = two_level_kyphoplasty(site_a, product, patient_mode="existing", study_id="tol-42")
    response = client_for(coordinator_a).post(URL, data)
    assert response.status_code == 302
    assert Patient.objects.count() == 1 and Procedure.objects.get().patient == patient


def test_another_sites_patient_cannot_be_picked(client_for, coordinator_b, site_a, product):
    PatientFactory(site=site_a, study_id="TOL-000042")
    data = two_level_kyphoplasty(site_a, product, patient_mode="existing", study_id="TOL-000042")
    data = {k: v for k, v in data.items() if not k.startswith("patient-")}
    response = client_for(coordinator_b).post(URL, data)
    assert response.status_code == 200
    html = response.content.decode()
    assert "No patient with this study id at your sites." in html
    assert "This field is required" not in html  # the unused new-patient fields stay quiet
    assert not Procedure.objects.exists()


def test_on_error_everything_typed_comes_back_and_nothing_is_saved(client_for, coordinator_a, site_a, product):
    data = two_level_kyphoplasty(
        site_a,
        product,
        **level_fields(1, VertebralLevel.L1, product=product, volume="15.1"),
        **{
            "procedure-fluoroscopy_seconds": "7201",
            "levels-2-level": str(int(VertebralLevel.L2)),
            "levels-2-approach": "unipedicular",
            "levels-2-cement_volume_ml": "1.5",
            "levels-2-product": str(product.pk),
            "levels-2-lot_number": "ZZ-9",
        },
    )

    response = client_for(coordinator_a).post(URL, data)

    html = response.content.decode()
    assert response.status_code == 200
    assert "Nothing was saved" in html
    assert "less than or equal to 15" in html
    assert "less than or equal to 7200" in html
    # Every typed value is still in the page, the dynamically added third level included.
    assert 'value="Dolores"' in html and 'value="H-777"' in html
    assert 'value="15.1"' in html and 'value="7201"' in html and 'value="ZZ-9"' in html
    assert 'name="levels-2-level"' in html
    assert not Patient.objects.exists() and not Procedure.objects.exists() and not CementLot.objects.exists()


def test_a_symptomatic_leak_without_complication_is_shown_next_to_the_leak(client_for, coordinator_a, site_a, product):
    data = two_level_kyphoplasty(site_a, product, **{"leaks-0-complication_number": ""})
    response = client_for(coordinator_a).post(URL, data)
    html = response.content.decode()
    assert response.status_code == 200
    assert "A symptomatic leak must point to a complication" in html
    assert not Procedure.objects.exists()


def test_a_leak_at_a_level_not_treated_is_refused(client_for, coordinator_a, site_a, product):
    data = two_level_kyphoplasty(site_a, product, **{"leaks-0-level": str(int(VertebralLevel.L3))})
    response = client_for(coordinator_a).post(URL, data)
    assert "This level is not among the treated levels above." in response.content.decode()
    assert not Procedure.objects.exists()


def test_unusual_values_need_an_explicit_confirmation(client_for, coordinator_a, site_a, product):
    client = client_for(coordinator_a)
    data = two_level_kyphoplasty(site_a, product, **level_fields(1, VertebralLevel.L1, product=product, volume="7.5"))

    first = client.post(URL, data)
    html = first.content.decode()
    assert first.status_code == 200 and "above 7 mL" in html and "I confirm" in html
    assert not Procedure.objects.exists()
    digest = first.context["warnings_digest"]

    # Ticking the box for other warnings than those shown does not count.
    assert client.post(URL, {**data, "confirm_warnings": "1", "warnings_digest": "stale"}).status_code == 200
    assert not Procedure.objects.exists()

    confirmed = client.post(URL, {**data, "confirm_warnings": "1", "warnings_digest": digest})
    assert confirmed.status_code == 302
    assert TreatedLevel.objects.get(level=VertebralLevel.L1).cement_volume_ml == Decimal("7.5")


def test_an_expired_lot_needs_confirmation(client_for, coordinator_a, site_a, product):
    expired = (days_ago(10) - dt.timedelta(days=1)).isoformat()
    data = two_level_kyphoplasty(site_a, product, **{"levels-0-lot_expires_on": expired})
    response = client_for(coordinator_a).post(URL, data)
    assert "expired on" in response.content.decode()
    assert not Procedure.objects.exists()


def test_scanning_a_gs1_barcode_fills_the_row_without_javascript(client_for, coordinator_a, site_a, product):
    data = {
        **new_patient(site_a),
        **procedure_fields(),
        **management("levels", 2),
        "levels-0-scan": SCAN,
        **management("leaks", 0),
        **management("complications", 0),
        "action": "scan",
    }
    response = client_for(coordinator_a).post(URL, data)
    html = response.content.decode()
    form = response.context["levels"].forms[0]
    assert form["lot_number"].value() == "AB12345"
    assert form["lot_expires_on"].value() == "2027-12-31"
    assert form["product"].value() == str(product.pk)
    assert "Scanned: VertaFix HV (Acme Spine), lot AB12345, expiry 2027-12-31." in html
    assert "Nothing was saved" not in html and not Procedure.objects.exists()


def test_scanning_an_unknown_product_says_so(client_for, coordinator_a, site_a, product):
    data = two_level_kyphoplasty(site_a, product, **{"levels-0-scan": "(01)05012345678917(10)ZZ1"})
    response = client_for(coordinator_a).post(URL, data)
    html = response.content.decode()
    assert "05012345678917 is not in the cement catalogue" in html
    assert not Procedure.objects.exists()


def test_a_row_marked_for_removal_is_not_saved(client_for, coordinator_a, site_a, product):
    data = two_level_kyphoplasty(
        site_a, product, **level_fields(2, VertebralLevel.L2, product=product), **{"levels-2-DELETE": "on"}
    )
    assert client_for(coordinator_a).post(URL, data).status_code == 302
    assert TreatedLevel.objects.count() == 2


def test_add_a_level_without_javascript_adds_an_empty_row(client_for, coordinator_a, site_a, product):
    data = two_level_kyphoplasty(site_a, product, action="add_level")
    response = client_for(coordinator_a).post(URL, data)
    assert 'name="levels-3-level"' in response.content.decode()
    assert not Procedure.objects.exists()


def test_reviewer_cannot_open_new_case(client_for, reviewer_a):
    assert client_for(reviewer_a).get(URL).status_code == 404


def test_gtin_of_builders_is_valid():
    from biip.gtin import Gtin

    assert Gtin.parse(GTIN).value == GTIN
