"""Every write to procedures, treated levels, cement lots, leaks and complications.

Services take the acting user, run in one transaction, validate every record with ``full_clean``
and are audited by simple-history. ``procedure_record`` writes a whole case (procedure, levels,
leaks, complications) or nothing. Errors come back as one ``ValidationError`` whose keys say where
they belong (``procedure.performed_on``, ``levels.1.cement_volume_ml``,
``levels.0.leaks.0.complication``, ``complications.0.onset_on``) so a form can show each next to its
field. Unusual but possible values raise ``ConfirmationRequired`` until the caller confirms.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from registry import access
from registry.core.audit import acting_as, bulk_create_audited
from registry.core.events import (
    announce_on_commit,
    complication_reported,
    procedure_changed,
    procedure_recorded,
)
from registry.procedures.models import (
    CEMENT_ML_WARN,
    LEVELS_WARN,
    CementLeak,
    CementLot,
    CementProduct,
    Complication,
    FractureAge,
    Procedure,
    ProcedureType,
    TreatedLevel,
    VertebralLevel,
    normalise_lot_number,
)

LOT_KEYS = ("cement_lot", "product", "lot_number", "lot_expires_on")


class ConfirmationRequired(Exception):
    """Unusual values that are possible: the caller must confirm before anything is written."""

    def __init__(self, warnings: list[str]):
        super().__init__("; ".join(warnings))
        self.warnings = warnings

    @property
    def digest(self) -> str:
        return warnings_digest(self.warnings)


def warnings_digest(warnings: Iterable[str]) -> str:
    """Identifies the set of warnings a user confirmed, so that a new warning needs a new confirmation."""
    return hashlib.sha256("\n".join(sorted(warnings)).encode()).hexdigest()[:16]


class FieldErrors:
    """Errors collected by key (``prefix.field``) across a record and its parts; the import uses it too."""

    def __init__(self) -> None:
        self.by_key: dict[str, list[str]] = {}

    def add(self, key: str, message) -> None:
        self.by_key.setdefault(key, []).append(str(message))

    def absorb(self, prefix: str, exc: ValidationError) -> None:
        if hasattr(exc, "error_dict"):
            for field, messages in exc.message_dict.items():
                for message in messages:
                    self.add(f"{prefix}.{field}", message)
        else:
            for message in exc.messages:
                self.add(f"{prefix}.__all__", message)

    def validate(self, prefix: str, instance, **kwargs) -> bool:
        try:
            instance.full_clean(**kwargs)
        except ValidationError as exc:
            self.absorb(prefix, exc)
            return False
        return True

    def raise_if_any(self) -> None:
        if self.by_key:
            raise ValidationError(self.by_key)

    def __bool__(self) -> bool:
        return bool(self.by_key)


def _level_label(level) -> str:
    try:
        return VertebralLevel(int(level)).label
    except (TypeError, ValueError):
        return str(level)


# --- Warnings ----------------------------------------------------------------------------------


def procedure_warnings(*, performed_on: dt.date | None, levels: Sequence[dict[str, Any]]) -> list[str]:
    """Unusual but possible values in one session; each needs an explicit confirmation.

    ``levels`` are level rows as given to ``procedure_record`` (``level``, ``cement_volume_ml`` and
    either ``cement_lot`` or ``lot_number`` / ``lot_expires_on``).
    """
    warnings: list[str] = []
    if len(levels) >= LEVELS_WARN:
        warnings.append(
            _("%(n)s levels in one session: five or more is unusual. Confirm that every row is a treated level.")
            % {"n": len(levels)}
        )
    for row in levels:
        label = _level_label(row.get("level"))
        volume = row.get("cement_volume_ml")
        if volume is not None and Decimal(volume) > CEMENT_ML_WARN:
            warnings.append(
                _(
                    "%(level)s: %(v)s mL of cement is above 7 mL (pulmonary cement embolism 0.9 %% above 7 mL "
                    "against 0.11 %% at 3.5–7 mL)."
                )
                % {"level": label, "v": volume}
            )
        lot = row.get("cement_lot")
        expires_on = (lot.expires_on if lot else None) or row.get("lot_expires_on")
        lot_number = lot.lot_number if lot else row.get("lot_number", "")
        if performed_on and expires_on and performed_on > expires_on:
            warnings.append(
                _("%(level)s: lot %(lot)s expired on %(exp)s, before the procedure date %(date)s.")
                % {"level": label, "lot": lot_number, "exp": expires_on, "date": performed_on}
            )
    return warnings


# --- Cement lots -------------------------------------------------------------------------------


def cement_lot_get_or_create(
    *, product: CementProduct, lot_number: str, expires_on: dt.date | None = None, acting_user
) -> CementLot:
    """The lot of ``product`` whose number matches ignoring case, spaces and dashes; created if new.

    A known lot keeps its expiry; a missing expiry is filled from what was typed or scanned.
    """
    access.require_any_data_entry(acting_user)
    normalised = normalise_lot_number(lot_number)
    if not normalised:
        raise ValidationError({"lot_number": _("Give the lot number printed on the cement kit.")})
    with acting_as(acting_user):
        lot = CementLot.objects.filter(product=product, lot_number_normalised=normalised).first()
        if lot is None:
            lot = CementLot(
                product=product,
                lot_number=lot_number.strip(),
                lot_number_normalised=normalised,
                expires_on=expires_on,
            )
            lot.full_clean(validate_constraints=False)
            try:
                with transaction.atomic():
                    lot.save()
            except IntegrityError:
                # Another coordinator entered the same lot a moment ago: use theirs.
                lot = CementLot.objects.get(product=product, lot_number_normalised=normalised)
        elif expires_on and lot.expires_on is None:
            lot.expires_on = expires_on
            lot.save(update_fields=["expires_on", "updated_at"])
    return lot


def cement_lots_get_or_create(
    *, lots: Iterable[tuple[CementProduct, str, dt.date | None]], acting_user
) -> dict[tuple[int, str], CementLot]:
    """``cement_lot_get_or_create`` for many lots at once (an import's), by (product id, normalised number).

    The known lots are read in one query and keep their expiry; the new ones are checked as one
    entered on the screen and inserted together, with their "created" history rows under
    ``acting_user``. Should another coordinator enter one of them meanwhile, the lots are resolved
    one by one instead, as ``cement_lot_get_or_create`` does.
    """
    access.require_any_data_entry(acting_user)
    wanted: dict[tuple[int, str], tuple[CementProduct, str, dt.date | None]] = {}
    for product, lot_number, expires_on in lots:
        normalised = normalise_lot_number(lot_number)
        if not normalised:
            raise ValidationError({"lot_number": _("Give the lot number printed on the cement kit.")})
        wanted.setdefault((product.pk, normalised), (product, lot_number, expires_on))
    found = {
        (lot.product_id, lot.lot_number_normalised): lot
        for lot in CementLot.objects.filter(
            product_id__in={key[0] for key in wanted}, lot_number_normalised__in={key[1] for key in wanted}
        )
        if (lot.product_id, lot.lot_number_normalised) in wanted
    }
    new = []
    for key, (product, lot_number, expires_on) in wanted.items():
        if key not in found:
            lot = CementLot(
                product=product, lot_number=lot_number.strip(), lot_number_normalised=key[1], expires_on=expires_on
            )
            # Uniqueness is the insert's to check: these lots were just looked up.
            lot.full_clean(validate_unique=False, validate_constraints=False)
            new.append(lot)
    try:
        with transaction.atomic():
            bulk_create_audited(new, CementLot, acting_user)
    except IntegrityError:
        return {
            key: cement_lot_get_or_create(
                product=product, lot_number=lot_number, expires_on=expires_on, acting_user=acting_user
            )
            for key, (product, lot_number, expires_on) in wanted.items()
        }
    return found | {(lot.product_id, lot.lot_number_normalised): lot for lot in new}


def _resolve_lot(row: dict[str, Any], acting_user) -> CementLot:
    lot = row.get("cement_lot")
    if lot is not None:
        return lot
    errors: dict[str, str] = {}
    if not row.get("product"):
        errors["product"] = _("Choose the cement product (or scan the kit's barcode).")
    if not normalise_lot_number(row.get("lot_number") or ""):
        errors["lot_number"] = _("Give the lot number printed on the cement kit.")
    if errors:
        raise ValidationError(errors)
    return cement_lot_get_or_create(
        product=row["product"],
        lot_number=row["lot_number"],
        expires_on=row.get("lot_expires_on"),
        acting_user=acting_user,
    )


# --- Procedure ---------------------------------------------------------------------------------


def _fracture_age_category(days: int) -> str:
    if days < 42:
        return FractureAge.ACUTE
    if days <= 90:
        return FractureAge.SUBACUTE
    return FractureAge.CHRONIC


def prepare_procedure(procedure: Procedure, errors: FieldErrors, prefix: str = "procedure") -> None:
    """Derive the fracture-age category from its days, or report the two disagreeing."""
    days = procedure.fracture_age_days
    if days is not None:
        expected = _fracture_age_category(days)
        if not procedure.fracture_age:
            procedure.fracture_age = expected
        elif procedure.fracture_age != expected:
            errors.add(
                f"{prefix}.fracture_age",
                _("%(days)s days is %(cat)s; correct the days or the category.")
                % {"days": days, "cat": FractureAge(expected).label.lower()},
            )


def check_level_against_procedure(level: TreatedLevel, procedure: Procedure, errors: FieldErrors, prefix: str) -> None:
    if level.balloon_inflated and procedure.procedure_type == ProcedureType.PVP:
        errors.add(f"{prefix}.balloon_inflated", _("A balloon is inflated in kyphoplasty, not in vertebroplasty."))


def _level_fields(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in LOT_KEYS and k != "leaks"}


def procedure_record(
    *,
    patient,
    acting_user,
    data: dict[str, Any],
    levels: Sequence[dict[str, Any]] = (),
    complications: Sequence[dict[str, Any]] = (),
    confirm: bool = False,
) -> Procedure:
    """Record one session with its treated levels, their leaks and its complications, all or nothing.

    Each level row holds TreatedLevel fields, the cement as ``cement_lot`` or as ``product`` +
    ``lot_number`` (+ ``lot_expires_on``), and ``leaks``: CementLeak fields plus
    ``complication_index``, the position in ``complications`` of the complication a symptomatic
    leak caused. Each complication row holds Complication fields plus ``level`` (the vertebral level
    ordinal it concerns, optional). Announces ``procedure_recorded`` and ``complication_reported``
    after commit.
    """
    access.require_data_entry(acting_user, patient.site_id)
    errors = FieldErrors()
    seen: dict[int, int] = {}
    level_ordinals = set()
    for i, row in enumerate(levels):
        ordinal = row.get("level")
        if ordinal in seen:
            errors.add(
                f"levels.{i}.level",
                _("%(level)s is already entered in row %(row)s: a level is treated once per session.")
                % {"level": _level_label(ordinal), "row": seen[ordinal] + 1},
            )
        seen.setdefault(ordinal, i)
        level_ordinals.add(ordinal)
        for j, leak in enumerate(row.get("leaks", ())):
            index = leak.get("complication_index")
            if index is not None and not 0 <= index < len(complications):
                errors.add(
                    f"levels.{i}.leaks.{j}.complication", _("There is no complication %(n)s.") % {"n": index + 1}
                )
            elif leak.get("symptomatic") and index is None:
                errors.add(
                    f"levels.{i}.leaks.{j}.complication",
                    _("A symptomatic leak must point to a complication: add it below and choose it here."),
                )
    for k, row in enumerate(complications):
        if row.get("level") is not None and row["level"] not in level_ordinals:
            errors.add(
                f"complications.{k}.level",
                _("%(level)s is not among the treated levels of this session.") % {"level": _level_label(row["level"])},
            )

    with transaction.atomic(), acting_as(acting_user):
        # First pass: build and validate every record without writing a clinical row, so that the
        # form can show all errors at once. Lots may be created here; an error rolls them back.
        procedure = Procedure(patient=patient, site_id=patient.site_id, recorded_by=acting_user, **data)
        prepare_procedure(procedure, errors)
        errors.validate("procedure", procedure)
        performed_on = procedure.performed_on

        built_levels: list[TreatedLevel | None] = []
        built_leaks: list[tuple[int, CementLeak, int | None]] = []
        for i, row in enumerate(levels):
            prefix = f"levels.{i}"
            level = TreatedLevel(procedure=procedure, **_level_fields(row))
            try:
                level.cement_lot = _resolve_lot(row, acting_user)
            except ValidationError as exc:
                errors.absorb(prefix, exc)
            check_level_against_procedure(level, procedure, errors, prefix)
            exclude = ["procedure"] if level.cement_lot_id else ["procedure", "cement_lot"]
            errors.validate(prefix, level, exclude=exclude, validate_constraints=False)
            built_levels.append(level)
            for j, leak_row in enumerate(row.get("leaks", ())):
                leak = CementLeak(**{k: v for k, v in leak_row.items() if k != "complication_index"})
                try:
                    # The link to a complication is checked above; it only gets an id in pass two.
                    leak.clean_fields(exclude=["treated_level", "complication"])
                except ValidationError as exc:
                    errors.absorb(f"{prefix}.leaks.{j}", exc)
                built_leaks.append((i, leak, leak_row.get("complication_index")))

        built_complications: list[tuple[Complication, int | None]] = []
        for k, row in enumerate(complications):
            complication = Complication(
                patient=patient, procedure=procedure, **{key: v for key, v in row.items() if key != "level"}
            )
            errors.validate(f"complications.{k}", complication, exclude=["procedure", "patient", "treated_level"])
            if performed_on and complication.onset_on and complication.onset_on < performed_on:
                errors.add(
                    f"complications.{k}.onset_on",
                    _("Onset is before the procedure (%(date)s).") % {"date": performed_on},
                )
            built_complications.append((complication, row.get("level")))
        errors.raise_if_any()
        # Errors first, then warnings: confirming a value that is refused anyway would be pointless.
        warnings = procedure_warnings(performed_on=performed_on, levels=levels)
        if warnings and not confirm:
            raise ConfirmationRequired(warnings)

        # Second pass: write, parents first.
        procedure._history_user = acting_user
        procedure.save()
        by_ordinal: dict[int, TreatedLevel] = {}
        for level in built_levels:
            level.procedure = procedure
            level._history_user = acting_user
            level.save()
            by_ordinal[level.level] = level
        saved_complications: list[Complication] = []
        for complication, ordinal in built_complications:
            complication.procedure = procedure
            complication.treated_level = by_ordinal.get(ordinal)
            complication._history_user = acting_user
            complication.save()
            saved_complications.append(complication)
        for i, leak, index in built_leaks:
            leak.treated_level = built_levels[i]
            leak.complication = saved_complications[index] if index is not None else None
            leak.full_clean()
            leak._history_user = acting_user
            leak.save()

        announce_on_commit(procedure_recorded, procedure_id=procedure.pk)
        for complication in saved_complications:
            announce_on_commit(complication_reported, complication_id=complication.pk)
    return procedure


PROCEDURE_EDITABLE_FIELDS = tuple(
    f.name
    for f in Procedure._meta.concrete_fields
    if f.editable and f.name not in {"id", "patient", "site", "recorded_by", "created_at", "updated_at"}
)


def procedure_update(*, procedure: Procedure, acting_user, data: dict[str, Any], confirm: bool = False) -> Procedure:
    """Change a session; a new date or type is announced (``procedure_changed``) so follow-up re-plans."""
    access.require_data_entry(acting_user, procedure.site_id)
    errors = FieldErrors()
    with transaction.atomic(), acting_as(acting_user):
        procedure = Procedure.objects.select_for_update().select_related("patient").get(pk=procedure.pk)
        before = (procedure.performed_on, procedure.procedure_type)
        for field, value in data.items():
            if field not in PROCEDURE_EDITABLE_FIELDS:
                raise ValidationError(_("%(f)s cannot be changed here.") % {"f": field})
            setattr(procedure, field, value)
        prepare_procedure(procedure, errors, prefix="procedure")
        # Imported or older rows may have no recorder; that is not the editor's problem.
        errors.validate("procedure", procedure, exclude=["recorded_by"])
        if procedure.performed_on:
            earliest = procedure.complications.order_by("onset_on").values_list("onset_on", flat=True).first()
            if earliest and earliest < procedure.performed_on:
                errors.add(
                    "procedure.performed_on",
                    _("A complication of this session began on %(d)s, before this date.") % {"d": earliest},
                )
        if procedure.procedure_type == ProcedureType.PVP and procedure.levels.filter(balloon_inflated=True).exists():
            errors.add("procedure.procedure_type", _("A level records an inflated balloon: that is kyphoplasty."))
        errors.raise_if_any()
        # A new date can put a lot past its expiry; each level is checked on its own.
        warnings = [
            warning
            for level in procedure.levels.select_related("cement_lot")
            for warning in procedure_warnings(
                performed_on=procedure.performed_on, levels=[{"level": level.level, "cement_lot": level.cement_lot}]
            )
        ]
        if warnings and procedure.performed_on != before[0] and not confirm:
            raise ConfirmationRequired(warnings)
        procedure._history_user = acting_user
        procedure.save()
        if (procedure.performed_on, procedure.procedure_type) != before:
            announce_on_commit(procedure_changed, procedure_id=procedure.pk)
    return procedure


# --- Treated levels ------------------------------------------------------------------------------


def _single_level_warnings(procedure: Procedure, row: dict[str, Any], *, extra_levels: int) -> list[str]:
    warnings = procedure_warnings(performed_on=procedure.performed_on, levels=[row])
    count = procedure.levels.count() + extra_levels
    if extra_levels and count >= LEVELS_WARN:
        warnings.insert(
            0, _("%(n)s levels in one session: five or more is unusual. Confirm this level.") % {"n": count}
        )
    return warnings


def _save_level(level: TreatedLevel, procedure: Procedure, row: dict[str, Any], acting_user, confirm: bool, new: bool):
    errors = FieldErrors()
    try:
        level.cement_lot = _resolve_lot(row, acting_user)
    except ValidationError as exc:
        errors.absorb("level", exc)
    for field, value in _level_fields(row).items():
        setattr(level, field, value)
    check_level_against_procedure(level, procedure, errors, "level")
    errors.validate("level", level, exclude=["cement_lot"] if not level.cement_lot_id else None)
    if level.level is not None:
        duplicate = procedure.levels.filter(level=level.level).exclude(pk=level.pk).exists()
        if duplicate:
            errors.add(
                "level.level",
                _("%(level)s is already a treated level of this session.") % {"level": _level_label(level.level)},
            )
    errors.raise_if_any()
    warnings = _single_level_warnings(procedure, {**row, "cement_lot": level.cement_lot}, extra_levels=1 if new else 0)
    if warnings and not confirm:
        raise ConfirmationRequired(warnings)
    level._history_user = acting_user
    level.save()
    return level


def treated_level_add(
    *, procedure: Procedure, acting_user, data: dict[str, Any], confirm: bool = False
) -> TreatedLevel:
    access.require_data_entry(acting_user, procedure.site_id)
    with transaction.atomic(), acting_as(acting_user):
        procedure = Procedure.objects.select_for_update().get(pk=procedure.pk)
        level = TreatedLevel(procedure=procedure)
        return _save_level(level, procedure, data, acting_user, confirm, new=True)


def treated_level_update(
    *, treated_level: TreatedLevel, acting_user, data: dict[str, Any], confirm: bool = False
) -> TreatedLevel:
    access.require_data_entry(acting_user, treated_level.procedure.site_id)
    with transaction.atomic(), acting_as(acting_user):
        level = TreatedLevel.objects.select_for_update().select_related("procedure").get(pk=treated_level.pk)
        return _save_level(level, level.procedure, data, acting_user, confirm, new=False)


def treated_level_remove(*, treated_level: TreatedLevel, acting_user) -> None:
    """Remove a level entered by mistake; its leaks go with it (audited as deletions)."""
    access.require_data_entry(acting_user, treated_level.procedure.site_id)
    with transaction.atomic(), acting_as(acting_user):
        level = TreatedLevel.objects.select_for_update().get(pk=treated_level.pk)
        level._history_user = acting_user
        for leak in level.leaks.all():
            leak._history_user = acting_user
            leak.delete()
        level.delete()


# --- Leaks -------------------------------------------------------------------------------------


def _save_leak(leak: CementLeak, data: dict[str, Any], acting_user) -> CementLeak:
    for field, value in data.items():
        setattr(leak, field, value)
    errors = FieldErrors()
    errors.validate("leak", leak)
    complication = leak.complication
    if complication and complication.procedure_id != leak.treated_level.procedure_id:
        errors.add("leak.complication", _("That complication belongs to another session."))
    errors.raise_if_any()
    leak._history_user = acting_user
    leak.save()
    return leak


def leak_add(*, treated_level: TreatedLevel, acting_user, data: dict[str, Any]) -> CementLeak:
    access.require_data_entry(acting_user, treated_level.procedure.site_id)
    with transaction.atomic(), acting_as(acting_user):
        return _save_leak(CementLeak(treated_level=treated_level), data, acting_user)


def leak_update(*, leak: CementLeak, acting_user, data: dict[str, Any]) -> CementLeak:
    access.require_data_entry(acting_user, leak.treated_level.procedure.site_id)
    with transaction.atomic(), acting_as(acting_user):
        locked = CementLeak.objects.select_for_update().select_related("treated_level").get(pk=leak.pk)
        return _save_leak(locked, data, acting_user)


def leak_remove(*, leak: CementLeak, acting_user) -> None:
    access.require_data_entry(acting_user, leak.treated_level.procedure.site_id)
    with transaction.atomic(), acting_as(acting_user):
        leak._history_user = acting_user
        leak.delete()


# --- Complications -----------------------------------------------------------------------------


def _save_complication(complication: Complication, data: dict[str, Any], acting_user) -> Complication:
    for field, value in data.items():
        setattr(complication, field, value)
    errors = FieldErrors()
    errors.validate("complication", complication)
    errors.raise_if_any()
    complication._history_user = acting_user
    complication.save()
    return complication


def complication_report(*, procedure: Procedure, acting_user, data: dict[str, Any]) -> Complication:
    """Report an adverse event of a session; announced (``complication_reported``) after commit."""
    access.require_data_entry(acting_user, procedure.site_id)
    with transaction.atomic(), acting_as(acting_user):
        complication = _save_complication(
            Complication(procedure=procedure, patient_id=procedure.patient_id), data, acting_user
        )
        announce_on_commit(complication_reported, complication_id=complication.pk)
    return complication


def complication_update(*, complication: Complication, acting_user, data: dict[str, Any]) -> Complication:
    access.require_data_entry(acting_user, complication.procedure.site_id)
    with transaction.atomic(), acting_as(acting_user):
        locked = Complication.objects.select_for_update().select_related("procedure").get(pk=complication.pk)
        if locked.symptomatic and data.get("symptomatic") is False and locked.leaks.filter(symptomatic=True).exists():
            raise ValidationError(
                {
                    "complication.symptomatic": [
                        _("A symptomatic leak points to this complication; it stays symptomatic.")
                    ]
                }
            )
        return _save_complication(locked, data, acting_user)
