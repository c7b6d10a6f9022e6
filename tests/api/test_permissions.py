"""Every endpoint × every persona gets the status the access rules promise.

Coordinator A works at site A (where the case lives); coordinator B at site B (another site's
ids are "not found", and a create pointing at site A's records is refused as an unknown id);
the reviewer sees no identified data at all (404, as on the screens); the administrator sees
everything; an anonymous client is told to authenticate (401).
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from registry.imports import sample

PERSONAS = ("coordinator_a", "coordinator_b", "reviewer_a", "admin_user", "anonymous")


def _expect(ok: int, other_site: int) -> dict[str, int]:
    return {"coordinator_a": ok, "coordinator_b": other_site, "reviewer_a": 404, "admin_user": ok, "anonymous": 401}


LIST = _expect(200, 200)
READ = _expect(200, 404)
CHANGE = _expect(200, 404)
CREATE = _expect(201, 400)
DELETE = _expect(204, 404)
DOCS = {"coordinator_a": 200, "coordinator_b": 200, "reviewer_a": 200, "admin_user": 200, "anonymous": 403}


def today():
    return timezone.localdate().isoformat()


def _series() -> bytes:
    return sample.to_csv(sample.legacy_rows(3, product="VertaFix HV", today=timezone.localdate()))


# (name, method, path(case), body(case, product) or None, expected by persona)
ENDPOINTS = [
    ("schema", "get", lambda c: "/api/schema/", None, DOCS),
    ("swagger ui", "get", lambda c: "/api/docs/", None, DOCS),
    ("redoc", "get", lambda c: "/api/redoc/", None, DOCS),
    ("sites list", "get", lambda c: "/api/sites/", None, LIST),
    ("site detail", "get", lambda c: f"/api/sites/{c['patient'].site_id}/", None, READ),
    ("cement products", "get", lambda c: "/api/cement-products/", None, LIST),
    ("patients list", "get", lambda c: "/api/patients/", None, LIST),
    ("patient detail", "get", lambda c: f"/api/patients/{c['patient'].pk}/", None, READ),
    (
        "patient register",
        "post",
        lambda c: "/api/patients/",
        lambda c, p: {
            "site": "TOL",
            "mrn": "NEW-1",
            "given_name": "Luis",
            "family_name": "Pérez",
            "date_of_birth": "1950-02-03",
            "sex": "male",
        },
        CREATE,
    ),
    ("patient update", "patch", lambda c: f"/api/patients/{c['patient'].pk}/", lambda c, p: {"diabetes": True}, CHANGE),
    ("patient search", "post", lambda c: "/api/patients/search/", lambda c, p: {"query": "H0001"}, LIST),
    (
        "patient consent",
        "post",
        lambda c: f"/api/patients/{c['patient'].pk}/consent/",
        lambda c, p: {"status": "withdrawn", "effective_on": today()},
        CHANGE,
    ),
    (
        "patient deceased",
        "post",
        lambda c: f"/api/patients/{c['patient'].pk}/deceased/",
        lambda c, p: {"deceased_on": today()},
        CHANGE,
    ),
    ("procedures list", "get", lambda c: "/api/procedures/", None, LIST),
    ("procedure detail", "get", lambda c: f"/api/procedures/{c['procedure'].pk}/", None, READ),
    (
        "procedure record",
        "post",
        lambda c: "/api/procedures/",
        lambda c, p: {
            "patient": c["patient"].pk,
            "performed_on": today(),
            "operator": "Dr Vega",
            "procedure_type": "PVP",
            "indication": "osteoporotic",
            "anaesthesia": "local",
            "guidance": "biplane",
            "levels": [
                {
                    "level": "L3",
                    "approach": "bipedicular",
                    "cement_product": p.pk,
                    "lot_number": "AB-12345",
                    "cement_volume_ml": "2.0",
                }
            ],
        },
        CREATE,
    ),
    (
        "procedure update",
        "patch",
        lambda c: f"/api/procedures/{c['procedure'].pk}/",
        lambda c, p: {"operator": "Dr Ruiz"},
        CHANGE,
    ),
    ("levels list", "get", lambda c: "/api/treated-levels/", None, LIST),
    ("level detail", "get", lambda c: f"/api/treated-levels/{c['level'].pk}/", None, READ),
    (
        "level add",
        "post",
        lambda c: "/api/treated-levels/",
        lambda c, p: {
            "procedure": c["procedure"].pk,
            "level": "L2",
            "approach": "unipedicular",
            "cement_product": p.pk,
            "lot_number": "AB 12345",
            "cement_volume_ml": "1.5",
        },
        CREATE,
    ),
    (
        "level update",
        "patch",
        lambda c: f"/api/treated-levels/{c['other_level'].pk}/",
        lambda c, p: {"cement_volume_ml": "2.8"},
        CHANGE,
    ),
    ("level remove", "delete", lambda c: f"/api/treated-levels/{c['other_level'].pk}/", None, DELETE),
    ("leaks list", "get", lambda c: "/api/leaks/", None, LIST),
    ("leak detail", "get", lambda c: f"/api/leaks/{c['leak'].pk}/", None, READ),
    (
        "leak add",
        "post",
        lambda c: "/api/leaks/",
        lambda c, p: {"treated_level": c["other_level"].pk, "location": "paravertebral", "detected_by": "ct"},
        CREATE,
    ),
    ("leak update", "patch", lambda c: f"/api/leaks/{c['leak'].pk}/", lambda c, p: {"size_grade": "minor"}, CHANGE),
    ("leak remove", "delete", lambda c: f"/api/leaks/{c['leak'].pk}/", None, DELETE),
    ("complications list", "get", lambda c: "/api/complications/", None, LIST),
    ("complication detail", "get", lambda c: f"/api/complications/{c['complication'].pk}/", None, READ),
    (
        "complication report",
        "post",
        lambda c: "/api/complications/",
        lambda c, p: {
            "procedure": c["procedure"].pk,
            "onset_on": today(),
            "found_at": "follow_up_visit",
            "complication_type": "transient_pain",
            "severity": "mild",
        },
        CREATE,
    ),
    (
        "complication update",
        "patch",
        lambda c: f"/api/complications/{c['complication'].pk}/",
        lambda c, p: {"outcome": "resolved", "resolved_on": today()},
        CHANGE,
    ),
    ("follow-up events list", "get", lambda c: "/api/followup-events/", None, LIST),
    ("follow-up event detail", "get", lambda c: f"/api/followup-events/{c['event'].pk}/", None, READ),
    ("survey responses list", "get", lambda c: "/api/survey-responses/", None, LIST),
    ("survey response detail", "get", lambda c: f"/api/survey-responses/{c['response'].pk}/", None, READ),
    (
        "survey response entry",
        "post",
        lambda c: "/api/survey-responses/",
        lambda c, p: {
            "patient": c["patient"].pk,
            "event": c["event"].pk,
            "source": "phone",
            "answers": {"vas": "3.0", "red_flags": {"fever_chills": False}},
        },
        CREATE,
    ),
    ("bone-health list", "get", lambda c: "/api/bone-health-actions/", None, LIST),
    ("bone-health detail", "get", lambda c: f"/api/bone-health-actions/{c['bone_action'].pk}/", None, READ),
    (
        "bone-health resolve",
        "post",
        lambda c: f"/api/bone-health-actions/{c['bone_action'].pk}/resolve/",
        lambda c, p: {"status": "declined", "note": "Patient prefers not to."},
        CHANGE,
    ),
    (
        "import preview",
        "post",
        lambda c: "/api/imports/",
        lambda c, p: {"site": "TOL", "file": SimpleUploadedFile("s.csv", _series())},
        _expect(200, 400),
    ),
    ("worklist list", "get", lambda c: "/api/worklist-items/", None, LIST),
    ("worklist detail", "get", lambda c: f"/api/worklist-items/{c['worklist_item'].pk}/", None, READ),
    (
        "worklist done",
        "post",
        lambda c: f"/api/worklist-items/{c['worklist_item'].pk}/done/",
        lambda c, p: {"note": "Called, will post the form."},
        CHANGE,
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("name", "method", "path", "body", "expected"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_endpoint_answers_each_persona_as_the_access_rules_say(
    request, api_for, case_a, product, site_b, persona, name, method, path, body, expected
):
    # Given the persona (every persona exists, so site B and the reviewer are real accounts)
    users = {p: request.getfixturevalue(p) for p in PERSONAS if p != "anonymous"}
    client = api_for(users.get(persona))
    # When it calls the endpoint about site A's case
    payload = body(case_a, product) if body else None
    body_format = "multipart" if name == "import preview" else "json"
    response = getattr(client, method)(path(case_a), payload, format=body_format)
    # Then it gets the promised status (and a body that explains a refusal)
    assert response.status_code == expected[persona], response.content[:600]


@pytest.mark.django_db
def test_coordinator_b_lists_hold_nothing_of_site_a(api_for, case_a, coordinator_b):
    client = api_for(coordinator_b)
    for path in (
        "/api/patients/",
        "/api/procedures/",
        "/api/treated-levels/",
        "/api/leaks/",
        "/api/complications/",
        "/api/followup-events/",
        "/api/survey-responses/",
        "/api/bone-health-actions/",
        "/api/worklist-items/",
    ):
        response = client.get(path)
        assert response.status_code == 200
        assert response.json()["count"] == 0, path
