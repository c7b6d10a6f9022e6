"""OpenAPI documentation pieces: the error answers and request examples shared by the views."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse

VALIDATION_ERROR = OpenApiResponse(
    response=OpenApiTypes.OBJECT,
    description=(
        "The request was not saved. Either a message list per field (nested fields as dotted paths, e.g. "
        "`levels.1.cement_volume_ml`; whole-request errors under `non_field_errors`), or, for unusual but "
        'possible values, `confirmation_required` with the warnings: send the same request with `"confirm": true`.'
    ),
    examples=[
        OpenApiExample(
            "Field errors",
            value={
                "performed_on": ["This date is in the future."],
                "levels.1.cement_volume_ml": ["Ensure this value is less than or equal to 15."],
            },
            response_only=True,
            status_codes=["400"],
        ),
        OpenApiExample(
            "Confirmation required",
            value={
                "detail": "These values are unusual but possible. Check them, then send the same request again "
                'with "confirm": true to save it.',
                "confirmation_required": [
                    "L1: 8.0 mL of cement is above 7 mL (pulmonary cement embolism 0.9 % above 7 mL against "
                    "0.11 % at 3.5–7 mL)."
                ],
                "confirm_with": {"confirm": True},
            },
            response_only=True,
            status_codes=["400"],
        ),
    ],
)
NOT_FOUND = OpenApiResponse(
    response=OpenApiTypes.OBJECT,
    description="No such record at your sites (records of other sites are not found either).",
    examples=[OpenApiExample("Not found", value={"detail": "No Patient matches the given query."}, response_only=True)],
)
FORBIDDEN = OpenApiResponse(response=OpenApiTypes.OBJECT, description="Your role may not change data at this site.")
WRITE_ERRORS = {400: VALIDATION_ERROR, 403: FORBIDDEN, 404: NOT_FOUND}

PATIENT_EXAMPLE = OpenApiExample(
    "Register a consented patient",
    value={
        "site": "TOL",
        "mrn": "H0012345",
        "given_name": "María",
        "family_name": "García López",
        "date_of_birth": "1941-05-02",
        "sex": "female",
        "email": "maria.garcia@example.org",
        "preferred_language": "es",
        "consent_status": "consented",
        "consent_date": "2026-01-12",
        "consent_form_version": "v3",
        "osteoporosis_therapy": "none",
    },
    request_only=True,
)

PROCEDURE_EXAMPLE = OpenApiExample(
    "A two-level vertebroplasty with an asymptomatic disc leak",
    value={
        "patient": 1,
        "performed_on": "2026-01-15",
        "operator": "Dr Vega",
        "setting": "outpatient",
        "procedure_type": "PVP",
        "indication": "osteoporotic",
        "fracture_age_days": 20,
        "anaesthesia": "local_sedation",
        "guidance": "biplane",
        "fluoroscopy_seconds": 240,
        "levels": [
            {
                "level": "T12",
                "approach": "bipedicular",
                "cement_product": 1,
                "lot_number": "AB-12345",
                "lot_expires_on": "2027-12-31",
                "cement_volume_ml": "2.5",
                "leaks": [{"location": "disc_superior", "detected_by": "fluoroscopy", "symptomatic": False}],
            },
            {
                "level": "L1",
                "approach": "bipedicular",
                "cement_product": 1,
                "lot_number": "AB-12345",
                "cement_volume_ml": "3.0",
            },
        ],
        "complications": [],
        "confirm": False,
    },
    request_only=True,
)

SURVEY_EXAMPLE = OpenApiExample(
    "A 3-month survey taken by phone",
    value={
        "patient": 1,
        "event": 12,
        "source": "phone",
        "collected_on": "2026-04-20",
        "language": "es",
        "answers": {
            "vas": "3.5",
            "odi": {
                "pain_intensity": 2,
                "personal_care": 1,
                "lifting": 3,
                "walking": 1,
                "sitting": 2,
                "standing": 2,
                "sleeping": 1,
                "social_life": 1,
                "travelling": 2,
            },
            "new_fracture": "no",
            "osteoporosis_therapy": "yes",
        },
    },
    request_only=True,
)


def document_access_answers(result, generator, request, public):
    """Every operation may answer 401 (no credentials) and 404 (a user without identified access
    gets 404 everywhere, as on the screens; another site's record is 404 too), one with query
    parameters or a body 400, and one with a body 415: say so once here rather than on each view. A drf-spectacular
    postprocessing hook."""
    detail = {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
    answers = {
        "401": ("Authentication credentials were not provided or are not valid.", detail),
        "404": ("No such record at your sites, or your role sees aggregates only (reviewers).", detail),
    }
    # Filters and bodies are checked: a list of messages per parameter or field, or one `detail`.
    invalid = ("A filter value or a body field is not valid: messages per name, or a `detail`.", {"type": "object"})
    # A body in a media type the operation does not read, or one too malformed to tell its type.
    unreadable = ("The body's media type is not one this operation reads (see its request body).", detail)
    for path, operations in result.get("paths", {}).items():
        if path == "/api/schema/":
            # The document answers in the format asked for, whatever the status: no content type.
            for operation in operations.values():
                operation["responses"].setdefault("404", {"description": "No such format (`format`)."})
            continue
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            checked = any(p.get("in") == "query" for p in operation.get("parameters", [])) or "requestBody" in operation
            extra = {"400": invalid} if checked else {}
            if "requestBody" in operation:
                extra["415"] = unreadable
            for code, (description, schema) in {**answers, **extra}.items():
                operation["responses"].setdefault(
                    code, {"description": description, "content": {"application/json": {"schema": schema}}}
                )
    return result
