"""Kit barcodes typed by a scanner: GS1 (via biip) and HIBC."""

import datetime as dt

import pytest
from django.urls import reverse

from registry.procedures.barcodes import BarcodeError, hibc_encode, parse_kit_barcode
from tests.procedures.builders import GTIN, SCAN, kit_product

EXPECTED = (GTIN, "AB12345", dt.date(2027, 12, 31))


@pytest.mark.parametrize(
    "typed",
    [
        SCAN,
        " (01) 05012345678900 (17) 271231 (10) AB12345 ",
        "010501234567890017271231" + "10AB12345",  # fixed-length fields first: no separator needed
        "]C1010501234567890010AB12345\x1d17271231",  # symbology identifier and FNC1 as GS
        "]d2010501234567890010AB12345<GS>17271231",  # a scanner that spells GS out
    ],
)
def test_gs1_element_strings_give_product_lot_and_expiry(typed):
    kit = parse_kit_barcode(typed)
    assert (kit.gtin, kit.lot_number, kit.expires_on) == EXPECTED


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("", "empty"),
        ("hello", "Not a readable GS1 barcode"),
        ("(01)05012345678901(10)X", "Not a readable GS1 barcode"),  # wrong check digit
        ("(17)271231(10)AB1", "no product number"),
        ("+A123BJC5D6E71/$$3271231AB12345X", "check character"),
    ],
)
def test_unreadable_barcodes_say_why(typed, reason):
    with pytest.raises(BarcodeError, match=reason):
        parse_kit_barcode(typed)


def test_hibc_primary_and_secondary_data():
    typed = hibc_encode("A123BJC5D6E7", 1, "AB12345", dt.date(2027, 12, 31))
    kit = parse_kit_barcode(typed)
    assert (kit.symbology, kit.hibc_labeler_product, kit.lot_number, kit.expires_on) == (
        "hibc",
        "A123BJC5D6E7",
        "AB12345",
        dt.date(2027, 12, 31),
    )


def test_lookup_fills_from_the_catalogue(client_for, coordinator_a):
    product = kit_product()
    response = client_for(coordinator_a).post(reverse("procedures:barcode_lookup"), {"code": SCAN})
    assert response.json() | {} == {
        "lot_number": "AB12345",
        "expires_on": "2027-12-31",
        "gtin": GTIN,
        "product_id": product.pk,
        "product": "VertaFix HV (Acme Spine)",
        "viscosity": "high",
    }


def test_lookup_of_an_unknown_gtin_explains(client_for, coordinator_a):
    response = client_for(coordinator_a).post(reverse("procedures:barcode_lookup"), {"code": SCAN})
    assert "is not in the cement catalogue" in response.json()["error"]
    assert response.json()["lot_number"] == "AB12345"


def test_lookup_by_hibc_code(client_for, coordinator_a):
    product = kit_product()
    product.hibc_labeler_product = "A123BJC5D6E7"
    product.save()
    code = hibc_encode("A123BJC5D6E7", 1, "LOT9")
    assert (
        client_for(coordinator_a).post(reverse("procedures:barcode_lookup"), {"code": code}).json()["product_id"]
        == product.pk
    )


def test_lookup_is_closed_to_reviewers(client_for, reviewer_a):
    assert client_for(reviewer_a).post(reverse("procedures:barcode_lookup"), {"code": SCAN}).status_code == 404
