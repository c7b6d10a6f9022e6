"""The OpenAPI schema is valid, and the API keeps to it: schemathesis, as coordinator A.

Schemathesis generates requests for every operation from the schema itself (its examples first)
and checks that no answer is a server error and that every answer matches the documented schema.
Ids in paths and bodies are pointed at site A's real records, so that generated bodies reach the
services rather than stopping at "no such patient".
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.core.serializers.json import DjangoJSONEncoder
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, settings
from knox.models import AuthToken
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

# Generated examples per operation: enough to reach every service's validation, while the whole
# run stays around a minute on the shared two-core machine.
MAX_EXAMPLES = 12
# No 5xx; every status, body and content type as documented (issue #12: ST103, ST105, ST108).
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]


def test_schema_validates_without_warnings(tmp_path, db):
    # drf-spectacular validates the document against the OpenAPI 3 meta-schema.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert "/api/procedures/" in (tmp_path / "schema.yaml").read_text()


def test_schema_and_docs_are_served_locally(api_for, coordinator_a):
    client = api_for(coordinator_a)
    assert client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").status_code == 200
    for page in ("/api/docs/", "/api/redoc/"):
        html = client.get(page).content.decode()
        # Assets come from drf-spectacular-sidecar under /static/, never from a CDN.
        assert "/static/drf_spectacular_sidecar/" in html
        assert "cdn." not in html and "unpkg" not in html and "jsdelivr" not in html


class InTestTransactionApp:
    """Django as a WSGI app that keeps the test's connection (and its open transaction) alive.

    A plain WSGIHandler closes "obsolete" connections when a request starts and finishes, which would end
    the test's transaction; Django's own test client disconnects that handler the same way.
    """

    def __init__(self):
        self.handler = WSGIHandler()

    def __call__(self, environ, start_response):
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            response = self.handler(environ, start_response)
            body = b"".join(response)
            response.close()
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)
        return [body]


def _load_schema():
    raw = json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True), cls=DjangoJSONEncoder))
    # The coverage phase enumerates every boundary of every parameter (about fifteen minutes here);
    # examples plus positive and negative fuzzing find the same classes of fault in a minute or two.
    config = schemathesis.Config.from_dict({"phases": {"coverage": {"enabled": False}}})
    schema = schemathesis.openapi.from_dict(raw, config=config)
    schema.app = InTestTransactionApp()
    return schema


# Built at collection (no database needed): one test per operation.
api_schema = _load_schema()


def _real_ids(case_a, product) -> dict[str, int]:
    return {
        "patient": case_a["patient"].pk,
        "procedure": case_a["procedure"].pk,
        "treated_level": case_a["other_level"].pk,
        "complication": case_a["complication"].pk,
        "event": case_a["event"].pk,
        "cement_product": product.pk,
    }


def _path_id(path: str, case_a, product) -> int | None:
    by_prefix = {
        "/api/sites/": case_a["patient"].site_id,
        "/api/cement-products/": product.pk,
        "/api/patients/": case_a["patient"].pk,
        "/api/procedures/": case_a["procedure"].pk,
        "/api/treated-levels/": case_a["other_level"].pk,
        "/api/leaks/": case_a["leak"].pk,
        "/api/complications/": case_a["complication"].pk,
        "/api/followup-events/": case_a["event"].pk,
        "/api/survey-responses/": case_a["response"].pk,
        "/api/bone-health-actions/": case_a["bone_action"].pk,
        "/api/worklist-items/": case_a["worklist_item"].pk,
    }
    return next((pk for prefix, pk in by_prefix.items() if path.startswith(prefix)), None)


def _point_at_real_records(case, case_a, product) -> None:
    if case.path_parameters and "id" in case.path_parameters:
        case.path_parameters["id"] = _path_id(case.path, case_a, product)
    if isinstance(case.body, dict):
        ids = _real_ids(case_a, product)
        for key in list(case.body):
            if key in ids:
                case.body[key] = ids[key]
        levels = case.body.get("levels")
        for row in levels if isinstance(levels, list) else []:
            if isinstance(row, dict) and "cement_product" in row:
                row["cement_product"] = product.pk


@api_schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)
@pytest.mark.django_db
def test_api_keeps_to_its_schema_for_coordinator_a(case, case_a, coordinator_a, product):
    _, token = AuthToken.objects.create(user=coordinator_a)
    _point_at_real_records(case, case_a, product)
    response = case.call(headers={"Authorization": f"Token {token}"})
    case.validate_response(response, checks=CHECKS)


@api_schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES // 3,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)
@pytest.mark.django_db
def test_api_keeps_to_its_schema_for_a_reviewer(case, case_a, reviewer_a, product):
    # A reviewer sees aggregates only: every identified endpoint answers as documented (404).
    token = AuthToken.objects.create(user=reviewer_a)[1]
    _point_at_real_records(case, case_a, product)
    response = case.call(headers={"Authorization": f"Token {token}"})
    case.validate_response(response, checks=CHECKS)


def test_a_body_the_api_cannot_read_is_a_documented_415(api_for, coordinator_a, case_a):
    # A body without a media type (schemathesis sent one) or in one the operation does not read is
    # answered 415 with a detail, and every operation that takes a body documents that answer.
    client = api_for(coordinator_a)
    path = f"/api/worklist-items/{case_a['worklist_item'].pk}/done/"
    for content_type, body in (("", b"\x19P"), ("text/csv", b"a,b\r\n1,2\r\n")):
        response = client.generic("POST", path, body, content_type=content_type)
        assert response.status_code == 415, (content_type, response.status_code)
        assert "detail" in response.json()
    schema = SchemaGenerator().get_schema(request=None, public=True)
    with_body = [
        (path, method)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if isinstance(operation, dict) and "requestBody" in operation
    ]
    assert with_body
    for path, method in with_body:
        assert "415" in schema["paths"][path][method]["responses"], (method, path)
