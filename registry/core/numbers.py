"""Decimal numbers as people type them: "7,5" and "7.5" are the same number in every input.

Spanish keyboards and paper forms write a decimal comma; browsers' number inputs refuse it in an
English page. Every numeric input (screens, API, import) reads both through ``parse_decimal``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import forms
from rest_framework import serializers


def decimal_text(value) -> str:
    """One decimal comma becomes a point; anything else is left for the number parser to judge."""
    text = str(value).strip()
    return text.replace(",", ".") if text.count(",") == 1 and "." not in text else text


def parse_decimal(value) -> Decimal:
    """Raises ``ValueError`` for text that is not one finite number."""
    try:
        number = Decimal(decimal_text(value))
    except InvalidOperation:
        raise ValueError(f"Not a number: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"Not a number: {value!r}")
    return number


class DecimalCommaFormField(forms.DecimalField):
    """A form field taking a decimal comma or point, drawn as text with a numeric keyboard."""

    widget = forms.TextInput(attrs={"inputmode": "decimal"})

    def widget_attrs(self, widget):
        # A text input: the browser's number checks (step, min, max) would refuse "7,5" again.
        return {}

    def to_python(self, value):
        if isinstance(value, str) and value.strip():
            value = decimal_text(value)
        return super().to_python(value)


class DecimalCommaSerializerField(serializers.DecimalField):
    """The API's decimal: a JSON number, or a string with a decimal comma or point."""

    def to_internal_value(self, data):
        if isinstance(data, str):
            data = decimal_text(data)
        return super().to_internal_value(data)
