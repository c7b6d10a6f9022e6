"""Import a legacy series (preview, then commit all or nothing) and export a site's identified data.

A file is parsed once, at the preview (``reading.py``, bounded); only the parsed rows of a file
without errors are kept, until the commit re-validates them inside one transaction and writes
them set-based (``bulk.py``: ``COPY`` on PostgreSQL); the history rows are written in bulk too,
each under the importing user, so the audit trail of an imported record reads "created by <coordinator> at
<time>" like any other. Nothing is updated: records that already exist (natural keys in
``columns.py``) are skipped when identical and reported when they differ, for the coordinator to
correct on the case screens; answers already in the registry are skipped too.

Each imported procedure brings its follow-up history (``history.py``): past windows become the
events that happened, from the file's answers, deaths, withdrawals and consent dates, without
sending anything. Windows still open or to come are planned after the commit, in the worker
(``plan_import_followup_task``, ``followup_schedule_procedure(skip_closed_windows=True)``), only
for consented, living patients: the procedures still to plan are listed on the ``ImportBatch``
row (the database is the truth), so a lost message or a dead worker is made good by running the
task again, and one import's thousands of plans do not hold the import's transaction open.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max, prefetch_related_objects
from django.utils import timezone

from registry import access
from registry.core.audit import acting_as
from registry.core.memory import collector_paused
from registry.followup import clock
from registry.followup.models import ProtocolEvent
from registry.followup.services import bone_health_due_on, followup_schedule_procedure, protocol_for_site
from registry.imports.bulk import ImportWriter
from registry.imports.columns import BY_NAME
from registry.imports.history import registry_events, write_history
from registry.imports.mapping import DATE_FORMATS as MAPPING_DATE_FORMATS
from registry.imports.mapping import apply_mapping
from registry.imports.models import ImportBatch, ImportMapping, ImportStatus
from registry.imports.plans import ImportPlan, PatientPlan, ProcedurePlan
from registry.imports.reading import MAX_COLUMNS, Sheet, UnreadableFile, read_sheet
from registry.imports.validation import plan_import
from registry.patients.models import (
    BoneHealthAction,
    BoneHealthActionStatus,
    ConsentEvent,
    ConsentStatus,
    Patient,
    Site,
)
from registry.patients.services import study_id_format
from registry.procedures.models import (
    CementLeak,
    CementLot,
    CementProduct,
    Complication,
    Procedure,
    TreatedLevel,
    normalise_lot_number,
)
from registry.procedures.services import cement_lots_get_or_create

logger = logging.getLogger(__name__)


class ImportRejected(Exception):
    """The file has errors: nothing was written. ``plan`` holds every error."""

    def __init__(self, plan: ImportPlan):
        super().__init__(f"{len(plan.errors)} error(s) in {len(plan.error_rows)} row(s)")
        self.plan = plan


# --- Import ---------------------------------------------------------------------------------------------


def _stored_sheet(sheet: Sheet) -> ContentFile:
    return ContentFile(gzip.compress(json.dumps(sheet.as_json(), separators=(",", ":")).encode(), compresslevel=3))


def stored_sheet(batch: ImportBatch) -> Sheet:
    """The rows parsed at upload; the uploaded file itself is never kept."""
    if not batch.file:
        raise UnreadableFile("This upload is no longer kept: upload the file again.")
    with batch.file.open("rb") as fh:
        return Sheet.from_json(json.loads(gzip.decompress(fh.read())))


def import_mapping_save(
    *,
    site: Site,
    acting_user,
    name: str,
    columns: dict[str, str],
    codes: dict[str, dict[str, str]] | None = None,
    date_format: str = "",
    record_column: str = "",
) -> ImportMapping:
    """Save (or replace) a site's named mapping; every part is checked against the template."""
    access.require_coordinator(acting_user, site.pk)
    codes = codes or {}
    errors: dict[str, list[str]] = {}
    if not name.strip() or len(name) > 80:
        errors.setdefault("name", []).append("Give the mapping a name of at most 80 characters.")
    if len(columns) > MAX_COLUMNS or any(len(str(header)) > 200 for header in columns):
        errors.setdefault("columns", []).append(f"At most {MAX_COLUMNS} columns of at most 200 characters.")
    unknown = sorted({target for target in columns.values() if target and target not in BY_NAME})
    if unknown:
        errors.setdefault("columns", []).append("Not template columns: " + ", ".join(unknown[:20]) + ".")
    for column, table in codes.items():
        allowed = BY_NAME[column].codes if column in BY_NAME else []
        if column == "time_point":
            allowed = list(
                ProtocolEvent.objects.filter(protocol=protocol_for_site(site)).values_list("code", flat=True)
            )
        if not allowed or not isinstance(table, dict) or len(table) > 1000:
            errors.setdefault("codes", []).append(f"{column}: not a coded column, or more than 1,000 codes.")
        elif bad := sorted({str(code) for code in table.values() if code not in allowed}):
            errors.setdefault("codes", []).append(f"{column}: not codes of the column: {', '.join(bad[:20])}.")
    if date_format and date_format not in MAPPING_DATE_FORMATS:
        errors.setdefault("date_format", []).append("One of: " + ", ".join(MAPPING_DATE_FORMATS) + ".")
    if len(record_column) > 100:
        errors.setdefault("record_column", []).append("At most 100 characters.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic(), acting_as(acting_user):
        mapping, _created = ImportMapping.objects.update_or_create(
            site=site,
            name=name.strip(),
            defaults={
                "columns": {str(k): str(v) for k, v in columns.items()},
                "codes": {column: {str(k): str(v) for k, v in table.items()} for column, table in codes.items()},
                "date_format": date_format,
                "record_column": record_column,
                "saved_by": acting_user,
            },
        )
    return mapping


def _mapped(sheet: Sheet, mapping: ImportMapping | None) -> Sheet:
    if mapping is None:
        return sheet
    return apply_mapping(
        sheet,
        columns=mapping.columns,
        codes=mapping.codes,
        date_format=mapping.date_format,
        record_column=mapping.record_column,
    )


def import_preview(
    *, site: Site, acting_user, name: str, data: bytes, mapping: ImportMapping | None = None
) -> tuple[ImportBatch, ImportPlan]:
    """Dry run: parse the file once, validate it, write nothing else. Raises ``UnreadableFile``.

    With a ``mapping`` (of this site) the file's columns and codes are first mapped onto the
    template. Only the parsed rows of a file without errors are kept (for its commit, at most
    ``IMPORT_RETENTION_DAYS``); a rejected file leaves only its counts.
    """
    access.require_coordinator(acting_user, site.pk)
    if mapping is not None and mapping.site_id != site.pk:
        raise PermissionDenied("A mapping is used only for its own site.")
    with collector_paused():
        file_format, sheet = read_sheet(name, data)
        sheet = _mapped(sheet, mapping)
        plan = plan_import(site=site, sheet=sheet)
    digest = hashlib.sha256(data).hexdigest()
    batch = ImportBatch(
        site=site,
        uploaded_by=acting_user,
        file_format=file_format,
        sha256=digest,
        status=ImportStatus.PREVIEWED if plan.ok else ImportStatus.REJECTED,
        rows=plan.rows,
        error_count=len(plan.errors),
        summary=plan.summary(),
    )
    if plan.ok:
        # The stored name is the digest, not the uploaded name (which may hold a patient's name).
        batch.file.save(f"{digest[:16]}.json.gz", _stored_sheet(sheet), save=False)
    batch.save()
    logger.info("import preview %s: site %s, %s rows, %s errors", batch.pk, site.code, plan.rows, len(plan.errors))
    return batch, plan


def import_commit(*, batch: ImportBatch, acting_user, today=None) -> ImportPlan:
    """Validate the previewed rows again and write them, all or nothing. Raises ``ImportRejected``."""
    access.require_coordinator(acting_user, batch.site.pk)
    with collector_paused():
        sheet = stored_sheet(batch)
        return import_sheet(
            site=batch.site,
            acting_user=acting_user,
            sheet=sheet,
            file_format=batch.file_format,
            batch=batch,
            today=today,
        )


def import_file(
    *,
    site: Site,
    acting_user,
    name: str,
    data: bytes,
    commit: bool = True,
    today=None,
    mapping: ImportMapping | None = None,
) -> ImportPlan:
    """Read, (map,) validate and (with ``commit``) write a whole file in one transaction.

    Raises ``UnreadableFile`` or ``ImportRejected``.
    """
    access.require_coordinator(acting_user, site.pk)
    if mapping is not None and mapping.site_id != site.pk:
        raise PermissionDenied("A mapping is used only for its own site.")
    with collector_paused():
        file_format, sheet = read_sheet(name, data)
        sheet = _mapped(sheet, mapping)
        return import_sheet(
            site=site,
            acting_user=acting_user,
            sheet=sheet,
            file_format=file_format,
            sha256=hashlib.sha256(data).hexdigest(),
            commit=commit,
            today=today,
        )


def import_sheet(
    *,
    site: Site,
    acting_user,
    sheet: Sheet,
    file_format: str,
    sha256: str = "",
    commit: bool = True,
    batch: ImportBatch | None = None,
    today=None,
) -> ImportPlan:
    """Validate and (with ``commit``) write parsed rows in one transaction. Raises ``ImportRejected``.

    A commit is recorded as an ``ImportBatch`` (``plan.batch``) whose stored rows are deleted;
    follow-up planning is queued after the commit.
    """
    access.require_coordinator(acting_user, site.pk)
    with transaction.atomic(), acting_as(acting_user):
        # One import per site at a time: the second waits, then finds the first's rows as existing.
        site = Site.objects.select_for_update().get(pk=site.pk)
        plan = plan_import(site=site, sheet=sheet)
        if not plan.ok:
            raise ImportRejected(plan)
        if not commit:
            return plan
        pending = _write(plan, acting_user, today=today or timezone.localdate())
        if batch is None:
            batch = ImportBatch(site=site, uploaded_by=acting_user, file_format=file_format, sha256=sha256)
        stored = batch.file.name if batch.file else ""
        batch.file = ""
        batch.status, batch.committed_at, batch.rows = ImportStatus.COMMITTED, timezone.now(), plan.rows
        batch.error_count, batch.summary, batch.followup_pending = 0, plan.summary(), pending
        batch.save()
        plan.batch = batch
        batch_id = batch.pk
        if stored:
            transaction.on_commit(lambda: default_storage.delete(stored))
        if pending:
            transaction.on_commit(lambda: _queue_followup(batch_id))
    logger.info("import %s committed: site %s, %s", batch.pk, site.code, dict(plan.counts))
    return plan


def import_files_purge(*, now=None) -> int:
    """Delete the kept rows of previews older than ``IMPORT_RETENTION_DAYS``; returns how many."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.IMPORT_RETENTION_DAYS)
    purged = 0
    for batch in ImportBatch.objects.filter(created_at__lt=cutoff).exclude(file=""):
        batch.file.delete(save=False)
        ImportBatch.objects.filter(pk=batch.pk).update(file="")
        purged += 1
    return purged


def template_example(*, today) -> dict[str, str]:
    """One invented case in the template's columns, with a cement product of the catalogue."""
    from registry.imports import sample

    product = CementProduct.objects.filter(active=True).order_by("id").first()
    code = (product.gtin or product.brand) if product else "05012345678900"
    return sample.legacy_rows(1, product=code, today=today)[0]


def _queue_followup(batch_id: int) -> None:
    from registry.imports.tasks import plan_import_followup_task

    plan_import_followup_task.delay(batch_id)


def _lots(plan: ImportPlan, acting_user) -> dict[tuple[int, str], CementLot]:
    return cement_lots_get_or_create(
        lots=(
            (level.product, level.lot_number, level.lot_expires_on)
            for procedure in plan.procedures.values()
            for level in procedure.levels
            if level.existing_id is None
        ),
        acting_user=acting_user,
    )


def _write(plan: ImportPlan, acting_user, *, today) -> list[int]:
    site = plan.site
    # Everything read from the registry is read first: a query waits for the database's work sent
    # after the table before it (bulk.ImportWriter), which is meant to overlap the next table's rows.
    lots = _lots(plan, acting_user)
    protocol = protocol_for_site(site)
    prefetch_related_objects([protocol], "events")
    protocol_events = list(protocol.events.all())
    known_events = registry_events(plan)
    new_patients = [p for p in plan.patients.values() if p.existing_id is None]
    number = site.next_study_number
    Site.objects.filter(pk=site.pk).update(next_study_number=number + len(new_patients))
    with ImportWriter(acting_user) as writer:
        patient_ids = writer.insert(
            Patient,
            [
                {"site_id": site.pk, "study_id": study_id_format(site, number + offset), **plan_patient.values}
                for offset, plan_patient in enumerate(new_patients)
            ],
        )
        for plan_patient, patient_id in zip(new_patients, patient_ids, strict=True):
            plan_patient.existing_id = patient_id
        writer.insert(ConsentEvent, _consent_rows(new_patients, acting_user, today=today), audited=False)

        new_procedures = [p for p in plan.procedures.values() if p.existing_id is None]
        procedure_rows = [
            {
                "patient_id": plan.patients[p.patient_key].existing_id,
                "site_id": site.pk,
                "recorded_by_id": acting_user.pk,
                **p.values,
            }
            for p in new_procedures
        ]
        for plan_procedure, procedure_id in zip(new_procedures, writer.insert(Procedure, procedure_rows), strict=True):
            plan_procedure.existing_id, plan_procedure.created = procedure_id, True

        new_levels, level_rows = [], []
        for plan_procedure in plan.procedures.values():
            for plan_level in plan_procedure.levels:
                if plan_level.existing_id is None:
                    lot = lots[(plan_level.product.pk, normalise_lot_number(plan_level.lot_number))]
                    new_levels.append(plan_level)
                    level_rows.append(
                        {"procedure_id": plan_procedure.existing_id, "cement_lot_id": lot.pk, **plan_level.values}
                    )
        for plan_level, level_id in zip(new_levels, writer.insert(TreatedLevel, level_rows), strict=True):
            plan_level.existing_id = level_id
        # The past events next: computing them is the longest Python of the write, and the levels'
        # history rows and foreign-key checks the most database work to overlap it with.
        past = write_history(plan, writer, protocol_events=protocol_events, known=known_events, today=today)
        for name, count in past.items():
            plan.counts[name] += count
        complications = _write_complications(plan, writer)
        leaks = []
        for plan_level in new_levels:
            for leak in plan_level.leaks:
                complication_id = complications.get(leak.complication_key)
                leaks.append(
                    {
                        "treated_level_id": plan_level.existing_id,
                        "location": leak.location,
                        "detected_by": leak.detected_by,
                        "size_grade": leak.size_grade,
                        "pathway": leak.pathway,
                        "symptomatic": complication_id is not None,
                        "complication_id": complication_id,
                    }
                )
        writer.insert(CementLeak, leaks)
        _write_bone_actions(plan, writer, protocol=protocol)
    pending = _followup_candidates(plan, new_procedures)
    plan.counts["followup_to_plan"] = len(pending)
    return pending


def _consent_rows(new_patients: list[PatientPlan], acting_user, *, today) -> list[dict]:
    """The consent events of new patients as the file gives them (none while consent is pending)."""
    rows = []
    for plan_patient in new_patients:
        values = plan_patient.values
        status = values.get("consent_status", ConsentStatus.PENDING)
        if status == ConsentStatus.PENDING:
            continue
        consent = {
            "patient_id": plan_patient.existing_id,
            "form_version": values.get("consent_form_version", ""),
            "note": "Recorded at import.",
            "recorded_by_id": acting_user.pk,
        }
        withdrawn_on = plan_patient.history.get("withdrawn_on")
        consent_date = values.get("consent_date")
        if withdrawn_on and consent_date:
            # A dated withdrawal: the consent it ended is history too.
            rows.append({**consent, "status": ConsentStatus.CONSENTED, "effective_on": consent_date})
        rows.append({**consent, "status": status, "effective_on": withdrawn_on or consent_date or today})
    return rows


def _write_complications(plan: ImportPlan, writer: ImportWriter) -> dict[tuple, int]:
    """New complications, on their procedure and (if the row had one) level: their ids by plan key."""
    level_ids = {
        (key, level.values["level"]): level.existing_id
        for key, procedure in plan.procedures.items()
        for level in procedure.levels
    }
    keys, rows = [], []
    for key, complication in plan.complications.items():
        if complication.existing:
            continue
        procedure = plan.procedures[complication.procedure_key]
        keys.append(key)
        rows.append(
            {
                "patient_id": plan.patients[procedure.patient_key].existing_id,
                "procedure_id": procedure.existing_id,
                "treated_level_id": level_ids.get((complication.procedure_key, complication.level)),
                **complication.model_values(),
            }
        )
    return dict(zip(keys, writer.insert(Complication, rows), strict=True))


def _write_bone_actions(plan: ImportPlan, writer: ImportWriter, *, protocol) -> None:
    """New bone-health actions, due when the follow-up planner would have made them due."""
    acting_user = writer.acting_user
    rows = []
    for action in plan.bone_actions.values():
        if action.existing:
            continue
        procedure = plan.procedures[action.procedure_key]
        performed_on = procedure.values["performed_on"]
        rows.append(
            {
                "patient_id": plan.patients[procedure.patient_key].existing_id,
                "procedure_id": procedure.existing_id,
                "kind": action.kind,
                "due_on": bone_health_due_on(kind=action.kind, performed_on=performed_on, protocol=protocol),
                "acted_by_id": None if action.values["status"] == BoneHealthActionStatus.DUE else acting_user.pk,
                "note": "Recorded at import.",
                **action.values,
            }
        )
    writer.insert(BoneHealthAction, rows)


def _followup_candidates(plan: ImportPlan, procedures: list[ProcedurePlan]) -> list[int]:
    """Imported procedures with a window still open, of consented living patients, oldest first."""
    site = plan.site
    last_day = ProtocolEvent.objects.filter(protocol=protocol_for_site(site)).aggregate(Max("window_end_day"))
    horizon = clock.local_date(clock.now(), site.time_zone) - timedelta(days=last_day["window_end_day__max"] or 0)
    chosen = []
    for procedure in procedures:
        patient = plan.patients[procedure.patient_key].values
        if (
            procedure.values["performed_on"] >= horizon
            and patient.get("consent_status") == ConsentStatus.CONSENTED
            and patient.get("deceased_on") is None
        ):
            chosen.append((procedure.values["performed_on"], procedure.existing_id))
    return [procedure_id for _performed_on, procedure_id in sorted(chosen)]


def import_followup_plan(*, batch_id: int, limit: int = 500) -> int:
    """Plan follow-up for up to ``limit`` procedures of an import; returns how many are left.

    Idempotent: each procedure leaves the pending list in the same transaction that plans it, and
    ``followup_schedule_procedure`` may be called again for a procedure already planned.
    """
    with transaction.atomic():
        batch = ImportBatch.objects.select_for_update(skip_locked=True).filter(pk=batch_id).first()
        if batch is None or not batch.followup_pending:
            return 0
        now_planning, rest = batch.followup_pending[:limit], batch.followup_pending[limit:]
        with acting_as(batch.uploaded_by):
            for procedure_id in now_planning:
                followup_schedule_procedure(procedure_id=procedure_id, skip_closed_windows=True)
        batch.followup_pending = rest
        if not rest:
            batch.followup_planned_at = timezone.now()
        batch.save(update_fields=["followup_pending", "followup_planned_at", "updated_at"])
    return len(rest)
