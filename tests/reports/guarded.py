"""Guarded metrics read in full, for comparing two ways of guarding the same release."""

from __future__ import annotations

import dataclasses

from reports.disclosure import is_withheld


def shown(value):
    """Every figure with its type and withheld mark (a WithheldCount equals its plain int)."""
    if dataclasses.is_dataclass(value):
        return (type(value).__name__, {f.name: shown(getattr(value, f.name)) for f in dataclasses.fields(value)})
    if isinstance(value, dict):
        return {key: shown(item) for key, item in value.items()}
    return (type(value).__name__, is_withheld(value), repr(value))


def withheld_count(value) -> int:
    if dataclasses.is_dataclass(value):
        own = int(is_withheld(value))
        return own + sum(withheld_count(getattr(value, f.name)) for f in dataclasses.fields(value))
    if isinstance(value, dict):
        return sum(withheld_count(item) for item in value.values())
    return int(is_withheld(value))
