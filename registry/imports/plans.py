"""What an import would write, row by row: the plan ``validation.plan_import`` builds and the commit follows."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from registry.imports.columns import COMPLICATION_COLUMNS, ODI_COLUMNS
from registry.patients.models import Site
from registry.procedures.models import CementProduct


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    value: str
    rule: str

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "value": self.value, "rule": self.rule}


@dataclass(frozen=True)
class RowNote:
    """A warning or a difference from the registry: reported, never blocking."""

    row: int
    record: str
    message: str

    def as_dict(self) -> dict:
        return {"row": self.row, "record": self.record, "message": self.message}


@dataclass
class PatientPlan:
    row: int
    values: dict[str, Any]
    existing_id: int | None = None
    # Dates that end follow-up without being patient fields (``withdrawn_on``).
    history: dict[str, Any] = field(default_factory=dict)


@dataclass
class AnswerPlan:
    """One procedure's survey answers at one time point (rows of the same key are merged)."""

    row: int
    procedure_key: tuple
    time_point: str
    values: dict[str, Any]
    existing: bool = False

    @property
    def odi_answers(self) -> dict[str, int]:
        return {ODI_COLUMNS[name]: value for name, value in self.values.items() if name in ODI_COLUMNS}


@dataclass
class ProcedurePlan:
    row: int
    patient_key: str
    values: dict[str, Any]
    levels: list[LevelPlan] = field(default_factory=list)
    existing_id: int | None = None
    # Written by this commit (its id set by the write): it has no events yet.
    created: bool = False


@dataclass
class LeakPlan:
    location: str
    detected_by: str
    size_grade: str
    pathway: str
    # The complication this leak caused (a symptomatic leak), by its key in ``ImportPlan.complications``.
    complication_key: tuple | None = None


@dataclass
class LevelPlan:
    row: int
    values: dict[str, Any]
    product: CementProduct | None
    lot_number: str
    lot_expires_on: dt.date | None
    leaks: list[LeakPlan]
    existing_id: int | None = None


@dataclass
class ComplicationPlan:
    row: int
    procedure_key: tuple
    level: int | None
    values: dict[str, Any]
    existing: bool = False

    def model_values(self) -> dict[str, Any]:
        return {
            COMPLICATION_COLUMNS[name]: value for name, value in self.values.items() if name in COMPLICATION_COLUMNS
        }


@dataclass
class BoneActionPlan:
    """One bone-health action of a procedure (``BoneHealthAction`` values, ``due_on`` set at the commit)."""

    row: int
    procedure_key: tuple
    kind: str
    values: dict[str, Any]
    existing: bool = False


@dataclass
class ImportPlan:
    site: Site
    rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowNote] = field(default_factory=list)
    changes: list[RowNote] = field(default_factory=list)
    patients: dict[str, PatientPlan] = field(default_factory=dict)
    procedures: dict[tuple, ProcedurePlan] = field(default_factory=dict)
    answers: dict[tuple, AnswerPlan] = field(default_factory=dict)
    complications: dict[tuple, ComplicationPlan] = field(default_factory=dict)
    bone_actions: dict[tuple, BoneActionPlan] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    batch: Any = None

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def error_rows(self) -> list[int]:
        return sorted({error.row for error in self.errors})

    def summary(self) -> dict[str, int]:
        return {"rows": self.rows, "errors": len(self.errors), "error_rows": len(self.error_rows), **self.counts}

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "summary": self.summary(),
            "errors": [error.as_dict() for error in self.errors],
            "warnings": [note.as_dict() for note in self.warnings],
            "changes": [note.as_dict() for note in self.changes],
        }
