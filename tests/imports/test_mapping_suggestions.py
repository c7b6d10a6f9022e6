"""Without a REDCap dictionary, the mapping step suggests codes from the values the file holds."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from registry.imports import mapping
from registry.imports.reading import Sheet


def department_sheet() -> Sheet:
    header = ["MRN", "Procedure Type", "Level", "Diabetes", "Time point", "Sex"]
    rows = [
        ["1", "vertebroplasty", "L-1", "1", "3_months_arm_1", "F"],
        ["2", "Kyphoplasty", "t 12", "0", "baseline_arm_1", "female"],
        ["3", "PVP", "L1", "0", "unknown", "M"],
    ]
    return Sheet(header=header, rows=[(number, cells) for number, cells in enumerate(rows, start=2)])


def test_codes_are_suggested_from_the_distinct_values_of_the_uploaded_file():
    suggested = mapping.suggest_mapping(department_sheet())

    assert suggested["columns"] == {
        "MRN": "mrn",
        "Procedure Type": "procedure_type",
        "Level": "level",
        "Diabetes": "diabetes",
        "Time point": "time_point",
        "Sex": "sex",
    }
    # Values already written as the vocabulary writes them ("PVP", "L1") need no entry; "unknown"
    # is like no time point and gets none (validation will name it)
    assert suggested["codes"] == {
        "procedure_type": {"Kyphoplasty": "PKP", "vertebroplasty": "PVP"},
        "level": {"L-1": "L1", "t 12": "T12"},
        "diabetes": {"0": "no", "1": "yes"},
        "time_point": {"3_months_arm_1": "m3", "baseline_arm_1": "baseline"},
        "sex": {"F": "female", "M": "male"},
    }


def test_a_column_of_free_values_gets_no_code_suggestions_and_distinct_values_are_bounded():
    header = ["mrn", "level"]
    rows = [(n, [f"MRN{n}", f"L-{1 + n % 5}"]) for n in range(2, 5000)]
    codes = mapping.suggest_codes(Sheet(header=header, rows=rows), {"mrn": "mrn", "level": "level"})
    assert codes == {"level": {f"L-{n}": f"L{n}" for n in range(1, 6)}}


@pytest.mark.django_db
def test_the_mapping_page_suggests_codes_from_an_uploaded_file_of_ours(client_for, site_a, coordinator_a):
    csv = "MRN,Procedure Type,Level,Diabetes\n1,vertebroplasty,L-1,1\n2,Kyphoplasty,t 12,0\n"
    page = client_for(coordinator_a).post(
        "/imports/mapping/",
        {
            "site": site_a.pk,
            "name": "Ours",
            "kind": "headers",
            "file": SimpleUploadedFile("cases.csv", csv.encode()),
        },
    )
    html = page.content.decode()
    assert page.status_code == 200
    for line in ("procedure_type: vertebroplasty = PVP", "level: L-1 = L1", "level: t 12 = T12", "diabetes: 1 = yes"):
        assert line in html
