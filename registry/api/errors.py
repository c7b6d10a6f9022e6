"""Service errors as API answers: 400 with a message per field, never a 500.

Services raise Django's ``ValidationError`` keyed by where the error belongs
(``procedure.performed_on``, ``levels.1.cement_volume_ml``) and ``ConfirmationRequired`` for
unusual-but-possible values. Every 400 body is a flat object ``{"field.path": ["message", ...]}``
so that a client shows each message next to the field it sent; errors about the whole request
are under ``non_field_errors``.
"""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.views import exception_handler

from registry.api.parsers import body_too_large
from registry.procedures.services import ConfirmationRequired

NON_FIELD = "non_field_errors"
# Service keys whose first part names the record the request body itself describes.
TOP_LEVEL_PREFIXES = ("procedure.", "patient.", "level.", "leak.", "complication.")


class ConfirmationNeeded(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "confirmation_required"

    def __init__(self, warnings: list[str]):
        self.detail = {
            "detail": "These values are unusual but possible. Check them, then send the same request again "
            'with "confirm": true to save it.',
            "confirmation_required": list(warnings),
            "confirm_with": {"confirm": True},
        }


def _key(path: str) -> str:
    if path in ("__all__", "") or path.endswith(".__all__") and path.count(".") == 1:
        return NON_FIELD
    for prefix in TOP_LEVEL_PREFIXES:
        if path.startswith(prefix):
            path = path[len(prefix) :]
            break
    return path.replace(".__all__", "") if path.endswith(".__all__") else path


def flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail or a service's dotted keys → ``{"levels.0.level": [...]}``."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for name, value in detail.items():
            name = NON_FIELD if name in ("__all__", "non_field_errors") and not prefix else str(name)
            for key, messages in flatten(value, f"{prefix}{name}." if name != NON_FIELD else prefix).items():
                out.setdefault(key, []).extend(messages)
    elif isinstance(detail, list) and detail and all(isinstance(item, dict | list) for item in detail):
        for index, item in enumerate(detail):
            for key, messages in flatten(item, f"{prefix}{index}.").items():
                out.setdefault(key, []).extend(messages)
    else:
        messages = detail if isinstance(detail, list) else [detail]
        out[prefix.rstrip(".") or NON_FIELD] = [str(message) for message in messages]
    return out


def from_django(exc: DjangoValidationError) -> ValidationError:
    if hasattr(exc, "error_dict"):
        by_key: dict[str, list[str]] = {}
        for path, messages in exc.message_dict.items():
            by_key.setdefault(_key(path), []).extend(messages)
        return ValidationError(by_key)
    return ValidationError({NON_FIELD: exc.messages})


def api_exception_handler(exc, context):
    """The views' handler (``ServiceView.get_exception_handler``)."""
    if isinstance(exc, ConfirmationRequired):
        exc = ConfirmationNeeded(exc.warnings)
    elif isinstance(exc, RequestDataTooBig):
        exc = body_too_large()
    elif isinstance(exc, DjangoValidationError):
        exc = from_django(exc)
    if isinstance(exc, ValidationError):
        exc = ValidationError(flatten(exc.detail))
    return exception_handler(exc, context)
