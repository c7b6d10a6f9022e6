"""Every read of patients on a user's behalf, scoped to their sites (STYLE.md item 2)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from django.db import models
from django.db.models import Exists, F, Func, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.utils.translation import gettext_lazy as _

from registry import access
from registry.patients.models import (
    FOLLOWUP_STATUS,
    BoneHealthAction,
    ConsentEvent,
    ConsentStatus,
    FollowUpStatus,
    Patient,
)


def followup_status_of(patient: Patient) -> str:
    """The rules of ``patients.models.FOLLOWUP_STATUS`` (the list's filter), read from a loaded patient."""
    if patient.deceased_on:
        return FollowUpStatus.DECEASED
    if patient.consent_status in (ConsentStatus.WITHDRAWN, ConsentStatus.DECLINED, ConsentStatus.PENDING):
        return FollowUpStatus(patient.consent_status)
    if patient.contact_opt_out:
        return FollowUpStatus.OPTED_OUT
    return FollowUpStatus.ACTIVE


def patient_get_for_user(*, user, patient_id: int) -> Patient:
    """The patient if the user may see their site's identified data, else 404."""
    return access.get_scoped_or_404(Patient.objects.select_related("site"), user, pk=patient_id)


# The text a name search looks in. A search word has no space, so it is part of this text exactly
# when it is part of the given or the family name; on PostgreSQL one trigram index on exactly this
# SQL serves every word of a search (``patients/0010_name_search_one_text``: change both together).
# Plain ``||`` (both names are NOT NULL), which SQLite understands too.
NAME_SEARCH_TEXT = Func(
    F("given_name"),
    Value(" "),
    F("family_name"),
    template="(%(expressions)s)",
    arg_joiner=" || ",
    output_field=models.CharField(),
)

_STUDY_ID = re.compile(r"^([A-Za-z]{2,8})[\s\-]*0*(\d{1,6})$")


def _search_q(query: str) -> Q:
    """Study id (``TOL-123`` matches ``TOL-000123``), MRN (exact) or name (every word, any part)."""
    query = " ".join(query.split())
    match = _STUDY_ID.match(query)
    # Exact MRN as typed or upper-cased: uses the (site, mrn) index, unlike a case-insensitive match.
    condition = Q(mrn__in={query, query.upper()})
    if match:
        condition |= Q(study_id=f"{match.group(1).upper()}-{int(match.group(2)):06d}")
    if query.isdigit() and len(query) <= 6:
        condition |= Q(study_id__endswith=f"-{int(query):06d}")
    words = [w for w in query.split(" ") if w]
    if words and not match:
        names = Q()
        for word in words:
            names &= Q(name_search__icontains=word)
        condition |= names
    return condition


def patient_list_for_user(
    *,
    user,
    query: str = "",
    procedure_type: str = "",
    indication: str = "",
    followup_status: str = "",
) -> QuerySet[Patient]:
    """Patients of the user's sites matching the search and filters, newest registration first.

    Paginate this, then fetch the page's rows with ``patient_list_rows``: the per-row
    annotations are computed for the rows shown only, not for every row an OFFSET skips.
    """
    from registry.procedures.models import Procedure

    patients = access.scope_to_sites(Patient.objects.all(), user)
    if query.strip():
        patients = patients.alias(name_search=NAME_SEARCH_TEXT).filter(_search_q(query))
    if procedure_type:
        patients = patients.filter(
            Exists(Procedure.objects.filter(patient=OuterRef("pk"), procedure_type=procedure_type))
        )
    if indication:
        patients = patients.filter(Exists(Procedure.objects.filter(patient=OuterRef("pk"), indication=indication)))
    if followup_status in FollowUpStatus.values:
        patients = patients.alias(followup_status=FOLLOWUP_STATUS).filter(followup_status=followup_status)
    return patients.order_by("-id")


def patient_list_rows(*, patient_ids: list[int]) -> list[Patient]:
    """The rows of one list page, in the given order, with site and latest procedure (one query)."""
    from registry.procedures.models import Procedure

    latest = Procedure.objects.filter(patient=OuterRef("pk")).order_by("-performed_on", "-id")
    rows = (
        Patient.objects.filter(pk__in=patient_ids)
        .select_related("site")
        .annotate(
            last_procedure_on=Subquery(latest.values("performed_on")[:1]),
            last_procedure_type=Subquery(latest.values("procedure_type")[:1]),
        )
    )
    by_id = {patient.pk: patient for patient in rows}
    return [by_id[pk] for pk in patient_ids if pk in by_id]


def patient_case_history(*, patient: Patient):
    """Procedures newest first with levels (and their lot and leaks) and complications prefetched."""
    from registry.procedures.models import CementLeak, Complication, Procedure, TreatedLevel

    return (
        Procedure.objects.filter(patient=patient)
        .order_by("-performed_on", "-id")
        .prefetch_related(
            Prefetch(
                "levels",
                queryset=TreatedLevel.objects.select_related("cement_lot__product").prefetch_related(
                    Prefetch("leaks", queryset=CementLeak.objects.select_related("complication"))
                ),
            ),
            Prefetch("complications", queryset=Complication.objects.select_related("treated_level")),
        )
    )


def patient_consent_history(*, patient: Patient) -> QuerySet[ConsentEvent]:
    return patient.consent_events.select_related("recorded_by").order_by("-recorded_at", "-id")


def patient_bone_health_actions(*, patient: Patient) -> QuerySet[BoneHealthAction]:
    return patient.bone_health_actions.select_related("acted_by", "procedure").order_by("due_on", "id")


# --- Audit trail ---------------------------------------------------------------------------------


@dataclass
class AuditEntry:
    when: datetime
    who: str
    what: str
    action: str
    changes: list[dict] = field(default_factory=list)


_ACTIONS = {"+": _("created"), "~": _("changed"), "-": _("deleted")}


def _display(model, field_name: str, value):
    if value is None or value == "":
        return "—"
    try:
        model_field = model._meta.get_field(field_name)
    except Exception:  # noqa: BLE001 - a field since removed from the model
        return value
    if model_field.choices:
        return dict(model_field.flatchoices).get(value, value)
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return value


def _entries_for(records, model, describe) -> list[AuditEntry]:
    """One entry per history record, each diffed against the record before it of the same object.

    Equivalent to ``registry.core.audit.field_changes`` but without one query per record: the
    previous record is already in hand.
    """
    by_object: dict[int, list] = {}
    for record in records:
        by_object.setdefault(record.id, []).append(record)
    entries = []
    for versions in by_object.values():
        versions.sort(key=lambda r: (r.history_date, r.history_id))
        previous = None
        for record in versions:
            changes = []
            if previous is not None and record.history_type == "~":
                delta = record.diff_against(previous)
                changes = [
                    {
                        "field": str(model._meta.get_field(c.field).verbose_name),
                        "old": _display(model, c.field, c.old),
                        "new": _display(model, c.field, c.new),
                    }
                    for c in delta.changes
                ]
            user = record.history_user
            entries.append(
                AuditEntry(
                    when=record.history_date,
                    who=(user.get_full_name() or user.get_username()) if user else str(_("unknown")),
                    what=describe(record),
                    action=str(_ACTIONS.get(record.history_type, record.history_type)),
                    changes=changes,
                )
            )
            previous = record
    return entries


def patient_audit_trail(*, patient: Patient) -> list[AuditEntry]:
    """Who changed what and when, for the patient and every clinical record of theirs, newest first."""
    from registry.procedures.models import CementLeak, Complication, Procedure, TreatedLevel, VertebralLevel

    def level_name(ordinal):
        try:
            return VertebralLevel(ordinal).label
        except ValueError:
            return str(ordinal)

    procedure_records = list(Procedure.history.filter(patient_id=patient.pk).select_related("history_user"))
    procedure_ids = {r.id for r in procedure_records}
    level_records = list(TreatedLevel.history.filter(procedure_id__in=procedure_ids).select_related("history_user"))
    levels = {r.id: level_name(r.level) for r in level_records}
    leak_records = CementLeak.history.filter(treated_level_id__in=set(levels)).select_related("history_user")

    entries = [
        *_entries_for(
            Patient.history.filter(id=patient.pk).select_related("history_user"),
            Patient,
            lambda r: str(_("Patient")),
        ),
        *_entries_for(procedure_records, Procedure, lambda r: f"{_('Procedure')} {r.procedure_type} {r.performed_on}"),
        *_entries_for(level_records, TreatedLevel, lambda r: f"{_('Treated level')} {level_name(r.level)}"),
        *_entries_for(
            leak_records, CementLeak, lambda r: f"{_('Cement leak')} ({levels.get(r.treated_level_id, '?')})"
        ),
        *_entries_for(
            Complication.history.filter(patient_id=patient.pk).select_related("history_user"),
            Complication,
            lambda r: f"{_('Complication')}: {_display(Complication, 'complication_type', r.complication_type)}",
        ),
        *_entries_for(
            BoneHealthAction.history.filter(patient_id=patient.pk).select_related("history_user"),
            BoneHealthAction,
            lambda r: f"{_('Bone health')}: {_display(BoneHealthAction, 'kind', r.kind)}",
        ),
    ]
    entries.sort(key=lambda e: e.when, reverse=True)
    return entries


def patient_find_by_study_id_for_user(*, user, study_id: str) -> Patient | None:
    """The patient of the user's sites with this study id (``TOL-123`` finds ``TOL-000123``)."""
    match = _STUDY_ID.match(" ".join((study_id or "").split()))
    if not match:
        return None
    normalised = f"{match.group(1).upper()}-{int(match.group(2)):06d}"
    return access.scope_to_sites(Patient.objects.select_related("site"), user).filter(study_id=normalised).first()
