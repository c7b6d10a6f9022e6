"""A REDCap project's raw-data export and its data dictionary, imported through a saved mapping.

The two files follow REDCap's documented export formats: the data dictionary CSV with its
standard columns (choices written "1, Label | 2, Label"), and a longitudinal "raw data" CSV
(codes, not labels; dates YYYY-MM-DD; one row per record and event, ``redcap_event_name``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from registry.followup.models import FollowUpEvent, SurveyResponse
from registry.imports import mapping
from registry.imports.models import ImportMapping
from registry.imports.reading import read_csv
from registry.imports.services import import_commit, import_mapping_save, import_preview
from registry.patients.models import Patient
from registry.procedures.models import CementProduct, Procedure, TreatedLevel

GTIN = "05012345678900"
DICTIONARY_HEADER = [
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
]
ODI = ["Pain intensity", "Personal care", "Lifting", "Walking", "Sitting", "Standing", "Sleeping", "Sex life"]
ODI += ["Social life", "Travelling"]
# (field, form, type, label, choices, validation)
FIELDS = [
    ("record_id", "enrolment", "text", "Record ID", "", ""),
    ("mrn", "enrolment", "text", "Medical record number", "", ""),
    ("first_name", "enrolment", "text", "First name", "", ""),
    ("surname", "enrolment", "text", "Surname", "", ""),
    ("date_of_birth", "enrolment", "text", "Date of birth", "", "date_ymd"),
    ("sex", "enrolment", "radio", "Sex", "1, Female | 2, Male", ""),
    ("consent_status", "enrolment", "dropdown", "Consent status", "1, Consented | 0, Pending", ""),
    ("consent_date", "enrolment", "text", "Consent date", "", "date_ymd"),
    ("diabetes", "enrolment", "yesno", "Diabetes", "", ""),
    ("proc_date", "procedure", "text", "Date of procedure", "", "date_ymd"),
    ("operator", "procedure", "text", "Operator", "", ""),
    ("procedure_type", "procedure", "dropdown", "Procedure type", "1, Vertebroplasty | 2, Kyphoplasty", ""),
    ("indication", "procedure", "radio", "Indication", "1, Osteoporotic fracture | 2, Metastasis | 3, Myeloma", ""),
    ("anaesthesia", "procedure", "radio", "Anaesthesia", "1, Local | 2, General", ""),
    ("guidance", "procedure", "radio", "Guidance", "1, Single-plane fluoroscopy | 2, Biplane fluoroscopy", ""),
    ("vertebra", "procedure", "dropdown", "Treated vertebra", "19, T12 | 20, L-1 | 21, L-2", ""),
    ("approach", "procedure", "radio", "Approach", "1, Unipedicular | 2, Bipedicular", ""),
    ("cement_volume_ml", "procedure", "text", "Cement volume (ml)", "", "number"),
    ("cement_product", "procedure", "text", "Cement product", "", ""),
    ("lot_number", "procedure", "text", "Lot number", "", ""),
    ("vas", "outcomes", "text", "Pain VAS (0-10)", "", "number"),
    *(
        (f"odi_{n}", "outcomes", "radio", f"ODI {n} - {label}", "0, 0 | 1, 1 | 2, 2 | 3, 3 | 4, 4 | 5, 5", "")
        for n, label in enumerate(ODI, start=1)
    ),
    ("survey_date", "outcomes", "text", "Date answered", "", "date_ymd"),
    ("collected_by", "outcomes", "radio", "Collected by", "1, Paper | 2, Phone | 3, Clinic", ""),
]


@pytest.fixture
def product(db):
    return CementProduct.objects.create(manufacturer="Acme Spine", brand="VertaFix HV", gtin=GTIN)


def T(days: int) -> str:
    return (timezone.localdate() + dt.timedelta(days=days)).isoformat()


def dictionary_csv() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(DICTIONARY_HEADER)
    for name, form, kind, label, choices, validation in FIELDS:
        writer.writerow([name, form, "", kind, label, choices, "", validation, *[""] * 10])
    return out.getvalue().encode()


def raw_export() -> bytes:
    names = [field[0] for field in FIELDS]
    header = ["record_id", "redcap_event_name", *names[1:]]
    enrolment = {
        "mrn": "RC-001",
        "first_name": "Lucía",
        "surname": "Ortega",
        "date_of_birth": "1941-03-09",
        "sex": "1",
        "consent_status": "1",
        "consent_date": T(-202),
        "diabetes": "0",
        "proc_date": T(-200),
        "operator": "Dr Vega",
        "procedure_type": "2",
        "indication": "1",
        "anaesthesia": "1",
        "guidance": "2",
        "vertebra": "20",
        "approach": "2",
        "cement_volume_ml": "3,5",
        "cement_product": GTIN,
        "lot_number": "AB123",
    }
    baseline = {"vas": "8", **{f"odi_{n}": "3" for n in range(1, 11)}, "survey_date": T(-201), "collected_by": "3"}
    month3 = {"vas": "3", **{f"odi_{n}": "1" for n in range(1, 11)}, "survey_date": T(-110), "collected_by": "2"}
    second = dict(enrolment, mrn="RC-002", first_name="Tomás", sex="2", procedure_type="1", vertebra="19")
    rows = [
        {"record_id": "1", "redcap_event_name": "baseline_arm_1", **enrolment, **baseline},
        {"record_id": "1", "redcap_event_name": "3_months_arm_1", **month3},
        {"record_id": "2", "redcap_event_name": "baseline_arm_1", **second},
    ]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


@pytest.mark.django_db
def test_a_redcap_export_imports_through_a_saved_mapping(site_a, coordinator_a, product):
    export = raw_export()
    events = mapping.events_in(read_csv(export))

    # Given the mapping REDCap's dictionary suggests
    suggested = mapping.redcap_preset(dictionary_csv(), events)
    columns, codes = suggested["columns"], suggested["codes"]
    assert suggested["record_column"] == "record_id"
    assert columns["mrn"] == "mrn" and columns["date_of_birth"] == "date_of_birth" and columns["vas"] == "vas"
    assert columns["odi_1"] == "odi_pain_intensity" and columns["odi_10"] == "odi_travelling"
    assert codes["procedure_type"] == {"1": "PVP", "2": "PKP"}
    assert codes["sex"] == {"1": "female", "2": "male"} and codes["diabetes"] == {"1": "yes", "0": "no"}
    assert codes["time_point"] == {"baseline_arm_1": "baseline", "3_months_arm_1": "m3"}

    # When the coordinator completes what had no close name and saves it for the site
    columns.update(first_name="given_name", surname="family_name", proc_date="performed_on", vertebra="level")
    columns.update(survey_date="answered_on", collected_by="answer_source")
    codes["level"] = {"19": "T12", "20": "L1", "21": "L2"}
    codes["answer_source"] = {"1": "paper", "2": "phone", "3": "clinic"}
    codes["consent_status"] = {"1": "consented", "0": "pending"}
    import_mapping_save(
        site=site_a,
        acting_user=coordinator_a,
        name="REDCap VA project",
        columns=columns,
        codes=codes,
        date_format=suggested["date_format"],
        record_column=suggested["record_column"],
    )
    saved = ImportMapping.objects.get(site=site_a, name="REDCap VA project")
    assert saved.history.get().history_user == coordinator_a

    # Then the export previews cleanly through the saved mapping and commits
    batch, plan = import_preview(site=site_a, acting_user=coordinator_a, name="export.csv", data=export, mapping=saved)
    assert plan.ok, [e.as_dict() for e in plan.errors]
    assert (plan.counts["patients_new"], plan.counts["levels_new"], plan.counts["answers_new"]) == (2, 2, 2)
    import_commit(batch=batch, acting_user=coordinator_a)

    lucia = Patient.objects.get(mrn="RC-001")
    assert (lucia.given_name, lucia.family_name, lucia.sex) == ("Lucía", "Ortega", "female")
    procedure = Procedure.objects.get(patient=lucia)
    assert procedure.procedure_type == "PKP" and procedure.performed_on.isoformat() == T(-200)
    level = TreatedLevel.objects.get(procedure=procedure)
    assert level.get_level_display() == "L1" and str(level.cement_volume_ml) == "3.5"
    assert TreatedLevel.objects.get(procedure__patient__mrn="RC-002").get_level_display() == "T12"
    m3 = SurveyResponse.objects.get(patient=lucia, event_code="m3")
    assert (str(m3.vas), str(m3.odi_percent), m3.source) == ("3.0", "20.0", "phone")
    assert FollowUpEvent.objects.get(procedure=procedure, event_code="m3").response == m3


@pytest.mark.django_db
def test_a_mapping_onto_unknown_columns_or_codes_is_refused(site_a, coordinator_a, coordinator_b):
    with pytest.raises(ValidationError) as refused:
        import_mapping_save(
            site=site_a,
            acting_user=coordinator_a,
            name="bad",
            columns={"x": "no_such_column"},
            codes={"procedure_type": {"1": "PVX"}},
        )
    assert set(refused.value.message_dict) == {"columns", "codes"}
    assert not ImportMapping.objects.exists()


@pytest.mark.django_db
def test_the_mapping_step_in_the_browser_suggests_saves_and_is_offered_at_upload(
    client_for, site_a, coordinator_a, coordinator_b, product
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = client_for(coordinator_a)
    page = client.post(
        "/imports/mapping/",
        {
            "site": site_a.pk,
            "name": "REDCap",
            "kind": "redcap",
            "file": SimpleUploadedFile("dictionary.csv", dictionary_csv()),
            "export": SimpleUploadedFile("export.csv", raw_export()),
        },
    )
    html = page.content.decode()
    assert page.status_code == 200
    assert '<option value="procedure_type" selected>' in html and "procedure_type: 2 = PKP" in html
    assert "time_point: 3_months_arm_1 = m3" in html

    suggested = mapping.redcap_preset(dictionary_csv(), mapping.events_in(read_csv(raw_export())))
    columns = dict(suggested["columns"], first_name="given_name", surname="family_name", proc_date="performed_on")
    columns.update(vertebra="level", survey_date="answered_on", collected_by="answer_source")
    codes = "\n".join(
        [f"{c}: {k} = {v}" for c, table in suggested["codes"].items() for k, v in table.items()]
        + ["level: 19 = T12", "level: 20 = L1", "answer_source: 2 = phone", "answer_source: 3 = clinic"]
        + ["consent_status: 1 = consented"]
    )
    saved = client.post(
        "/imports/mapping/",
        {
            "save": "1",
            "site": site_a.pk,
            "name": "REDCap",
            "header": list(columns),
            "target": list(columns.values()),
            "date_format": "%Y-%m-%d",
            "record_column": "record_id",
            "codes": codes,
        },
    )
    assert saved.status_code == 302
    chosen = ImportMapping.objects.get(site=site_a, name="REDCap")

    preview = client.post(
        "/imports/",
        {"site": site_a.pk, "mapping": chosen.pk, "file": SimpleUploadedFile("export.csv", raw_export())},
    )
    assert preview.status_code == 200 and "Commit the import" in preview.content.decode()
    # Another site's coordinator is not offered, and cannot use, this site's mapping
    other = client_for(coordinator_b).get("/imports/")
    assert f'<option value="{chosen.pk}">' not in other.content.decode()
    assert f'<option value="{chosen.pk}">' in client.get("/imports/").content.decode()


@pytest.mark.django_db
def test_the_api_import_takes_a_saved_mapping_by_name(site_a, coordinator_a, product):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from knox.models import AuthToken
    from rest_framework.test import APIClient

    suggested = mapping.redcap_preset(dictionary_csv(), ["baseline_arm_1", "3_months_arm_1"])
    columns = dict(suggested["columns"], first_name="given_name", surname="family_name", proc_date="performed_on")
    columns.update(vertebra="level", survey_date="answered_on", collected_by="answer_source")
    codes = dict(suggested["codes"], level={"19": "T12", "20": "L1"}, answer_source={"2": "phone", "3": "clinic"})
    codes["consent_status"] = {"1": "consented"}
    import_mapping_save(
        site=site_a, acting_user=coordinator_a, name="rc", columns=columns, codes=codes, record_column="record_id"
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=coordinator_a)[1]}")

    def post(name):
        upload = SimpleUploadedFile("export.csv", raw_export())
        return client.post("/api/imports/", {"site": "TOL", "file": upload, "mapping": name}, format="multipart")

    answer = post("rc")
    assert answer.status_code == 200 and answer.json()["ok"], answer.json()
    assert answer.json()["summary"]["answers_new"] == 2
    assert post("no such mapping").json() == {"mapping": ["No mapping of this name for the site."]}
