"""Lot recall: which patients received lot X, or any lot of product Y."""

import csv
import io

import pytest
from django.urls import reverse

from tests.factories import CementLotFactory, CementProductFactory, PatientFactory, TreatedLevelFactory

URL = reverse("procedures:lot_recall")


@pytest.fixture
def recall_setup(site_a, site_b):
    product = CementProductFactory(brand="VertaFix HV", gtin="05012345678900")
    other = CementProductFactory(brand="KyphoCem", gtin="08412345000010")
    lot = CementLotFactory(product=product, lot_number="AB-12345", lot_number_normalised="AB12345")
    sibling = CementLotFactory(product=product, lot_number="AB-99999", lot_number_normalised="AB99999")
    same_number_other_product = CementLotFactory(product=other, lot_number="ab12345", lot_number_normalised="AB12345")
    hit = TreatedLevelFactory(
        procedure__patient=PatientFactory(
            site=site_a, given_name="Lola", family_name="Flores", phone="+34 600 123 456"
        ),
        cement_lot=lot,
    )
    sibling_hit = TreatedLevelFactory(procedure__patient=PatientFactory(site=site_a), cement_lot=sibling)
    other_product_hit = TreatedLevelFactory(
        procedure__patient=PatientFactory(site=site_a), cement_lot=same_number_other_product
    )
    other_site_hit = TreatedLevelFactory(procedure__patient=PatientFactory(site=site_b), cement_lot=lot)
    return {
        "product": product,
        "hit": hit.procedure.patient,
        "sibling": sibling_hit.procedure.patient,
        "other_product": other_product_hit.procedure.patient,
        "other_site": other_site_hit.procedure.patient,
    }


def study_ids(response):
    return {level.procedure.patient.study_id for level in response.context["levels"]}


@pytest.mark.parametrize("typed", ["AB-12345", "ab12345", " ab 12 345 ", "AB–12345"])
def test_lot_numbers_match_ignoring_case_spaces_and_dashes(client_for, coordinator_a, recall_setup, typed):
    response = client_for(coordinator_a).get(URL, {"lot": typed, "product": recall_setup["product"].pk})
    assert study_ids(response) == {recall_setup["hit"].study_id}


def test_a_lot_without_product_matches_every_product_with_that_lot(client_for, coordinator_a, recall_setup):
    response = client_for(coordinator_a).get(URL, {"lot": "ab-12345"})
    assert study_ids(response) == {recall_setup["hit"].study_id, recall_setup["other_product"].study_id}


def test_any_lot_of_a_product(client_for, coordinator_a, recall_setup):
    response = client_for(coordinator_a).get(URL, {"product": recall_setup["product"].pk})
    assert study_ids(response) == {recall_setup["hit"].study_id, recall_setup["sibling"].study_id}


def test_other_sites_patients_are_not_listed(client_for, coordinator_b, recall_setup):
    response = client_for(coordinator_b).get(URL, {"lot": "AB12345", "product": recall_setup["product"].pk})
    assert study_ids(response) == {recall_setup["other_site"].study_id}


def test_the_page_shows_contact_details_and_the_csv_has_them(client_for, investigator_a, recall_setup):
    client = client_for(investigator_a)
    html = client.get(URL, {"lot": "AB12345", "product": recall_setup["product"].pk}).content.decode()
    assert "+34 600 123 456" in html and "Flores" in html

    response = client.get(URL, {"lot": "AB12345", "product": recall_setup["product"].pk, "format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["study_id"], r["site"], r["level"], r["lot_number"], r["phone"]) for r in rows] == [
        (recall_setup["hit"].study_id, "TOL", "L1", "AB-12345", "+34 600 123 456")
    ]
    assert rows[0]["procedure_date"]


def test_csv_cells_cannot_run_as_formulas(client_for, coordinator_a, site_a):
    lot = CementLotFactory(lot_number="Z-1", lot_number_normalised="Z1")
    TreatedLevelFactory(procedure__patient=PatientFactory(site=site_a, family_name="=HYPERLINK(1)"), cement_lot=lot)
    response = client_for(coordinator_a).get(URL, {"lot": "z1", "format": "csv"})
    assert "'=HYPERLINK(1)" in response.content.decode()


def test_an_empty_query_asks_for_a_lot_or_product(client_for, coordinator_a):
    response = client_for(coordinator_a).get(URL, {"lot": ""})
    assert "Give a lot number, a product, or both." in response.content.decode()


def test_reviewers_get_404(client_for, reviewer_a, recall_setup):
    assert client_for(reviewer_a).get(URL, {"lot": "AB12345"}).status_code == 404
