"""The downloadable template: drop-downs, a dictionary and an example, from the columns that validate."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from registry.imports.columns import BY_NAME, HEADER
from registry.imports.services import import_file
from registry.procedures.models import CementProduct

GTIN = "05012345678900"


@pytest.fixture
def product(db):
    return CementProduct.objects.create(manufacturer="Acme Spine", brand="VertaFix HV", gtin=GTIN)


def _validation_for(sheet, column_name: str):
    letter = sheet.cell(row=1, column=HEADER.index(column_name) + 1).column_letter
    found = [v for v in sheet.data_validations.dataValidation if str(v.sqref).startswith(f"{letter}2:")]
    return found[0] if found else None


@pytest.mark.django_db
def test_the_excel_template_has_drop_downs_a_dictionary_and_an_example_that_imports(
    client_for, site_a, coordinator_a, product
):
    response = client_for(coordinator_a).get("/imports/template.xlsx")
    workbook = load_workbook(io.BytesIO(response.content))

    # The sheets: cases to fill, the dictionary, the codes behind the drop-downs, an example
    assert workbook.sheetnames == ["Cases", "Dictionary", "Codes", "Example"]
    cases = workbook["Cases"]
    assert [cell.value for cell in cases[1]] == HEADER
    assert cases.max_row == 1

    # Coded columns offer their codes; free columns and multi-code columns have no drop-down
    codes = workbook["Codes"]
    level = _validation_for(cases, "level")
    assert level is not None and level.type == "list"
    column = HEADER.index("level") + 1
    assert [codes.cell(row=r, column=column).value for r in range(1, 4)] == ["C1", "C2", "C3"]
    sex = _validation_for(cases, "sex")
    sex_codes = [codes.cell(row=r, column=HEADER.index("sex") + 1).value for r in range(1, 10)]
    assert sex is not None and [c for c in sex_codes if c] == BY_NAME["sex"].codes
    assert _validation_for(cases, "balloon_inflated") is not None
    assert _validation_for(cases, "given_name") is None and _validation_for(cases, "leaks") is None
    # Bone-health actions: each status column offers the action statuses, the therapy its drugs
    status_at = HEADER.index("bone_falls_referral_status") + 1
    assert _validation_for(cases, "bone_falls_referral_status") is not None
    assert [codes.cell(row=r, column=status_at).value for r in range(1, 5)] == [
        "due",
        "done",
        "declined",
        "not_applicable",
    ]
    assert _validation_for(cases, "bone_osteoporosis_therapy_drug") is not None
    assert _validation_for(cases, "bone_dxa_on") is None

    # The dictionary describes every column, as the validation reads it
    rows = list(workbook["Dictionary"].iter_rows(min_row=2, values_only=True))
    assert [row[0] for row in rows] == HEADER
    mrn = next(row for row in rows if row[0] == "mrn")
    assert mrn[2] == "yes"
    t_score = next(row for row in rows if row[0] == "bone_dxa_t_score")
    assert t_score[1] == "bone" and "DXA scan" in t_score[3] and "at most 1 decimal" in t_score[3]

    # And the example row, pasted into a file, imports without an error
    example = [cell.value or "" for cell in workbook["Example"][2]]
    csv = ",".join(HEADER) + "\n" + ",".join(f'"{value}"' for value in example) + "\n"
    plan = import_file(site=site_a, acting_user=coordinator_a, name="e.csv", data=csv.encode(), commit=False)
    assert plan.ok, plan.errors
    assert plan.counts["levels_new"] == 1
