"""Every write of the follow-up engine except the sweep and the sends (``dispatch.py``).

Scheduling rules (DATA_DICTIONARY.md section 3, issue 4):

- A procedure of a consented, living patient gets one ``FollowUpEvent`` per event of its site's
  protocol (the default protocol unless the site has its own). Dates count from the procedure
  date. Windows that had already closed when the procedure was recorded are created ``missed``
  without a worklist item (nothing could have been asked).
- Re-planning (procedure date changed, protocol edited) re-dates only events not yet sent, i.e.
  still ``scheduled``; invited, answered and closed events keep their dates.
- Several procedures on one patient: **the later procedure leads**. An emailed event of an
  earlier procedure that is not yet sent and whose window overlaps an emailed event of a later
  procedure becomes ``superseded`` (``superseded_by`` points at the later event). When the later
  event's window opens, an earlier event still open (invited, unanswered) and overlapping it is
  superseded too: its link stops working and its reminders are cancelled. So the patient never
  has two surveys open for the same weeks. Coordinator-entered events (baseline) never take part.
  Re-planning recomputes the rule, so an event superseded only because of a date typo comes back.
- Withdrawal and death cancel every open event and every pending message at once; opt-out
  ("stop emails") cancels pending emails to the patient, keeps the events, and puts the patient on
  the worklist (the coordinator may follow up by phone, as for a patient without email).
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q

from registry import access
from registry.core.audit import acting_as, current_actor
from registry.core.events import announce_on_commit, survey_response_recorded
from registry.core.models import check_free_text
from registry.followup import clock, lifecycle, queueing, scoring, staffmail
from registry.followup.instruments import FOLLOWUP_OPTION_CODES
from registry.followup.models import (
    CancelCause,
    EventStatus,
    FollowUpEvent,
    FollowUpProtocol,
    MessageKind,
    OutboundMessage,
    ProtocolEvent,
    ResponseSource,
    SurveyInvitation,
    SurveyResponse,
    WorklistItem,
    WorklistKind,
    WorklistStatus,
)
from registry.patients.models import (
    BoneHealthAction,
    BoneHealthActionKind,
    BoneHealthActionStatus,
    ConsentStatus,
    OsteoporosisTherapy,
    Patient,
    Site,
)
from registry.procedures.models import Indication, Procedure

logger = logging.getLogger(__name__)

STOP_REASONS = ("withdrawn", "opted_out", "deceased")
DXA_LOOKBACK_MONTHS = 24
DXA_EVENT_CODE, THERAPY_EVENT_CODE = "m3", "early"
DXA_FALLBACK_DAY, THERAPY_FALLBACK_DAY = 90, 14


# --- Protocols -----------------------------------------------------------------------------------


def protocol_for_site(site: Site) -> FollowUpProtocol:
    chosen = FollowUpProtocol.objects.filter(sites__site=site).first()
    if chosen is not None:
        return chosen
    default = FollowUpProtocol.objects.filter(is_default=True).first()
    if default is None:
        raise FollowUpProtocol.DoesNotExist("No default follow-up protocol: run the migrations.")
    return default


def _event_dates(performed_on: date, protocol_event: ProtocolEvent) -> tuple[date, date | None, date]:
    invite = protocol_event.invite_day
    return (
        performed_on + timedelta(days=protocol_event.window_start_day),
        None if invite is None else performed_on + timedelta(days=invite),
        performed_on + timedelta(days=protocol_event.window_end_day),
    )


# Public for the import, which rebuilds the past windows of legacy cases with the same dates.
event_dates = _event_dates


# --- Scheduling ----------------------------------------------------------------------------------


def _patient_in_followup(patient: Patient) -> bool:
    return patient.consent_status == ConsentStatus.CONSENTED and patient.deceased_on is None


@transaction.atomic
def followup_schedule_procedure(
    *, procedure_id: int, now: datetime | None = None, skip_closed_windows: bool = False
) -> list[FollowUpEvent]:
    """Create or re-plan the events of one procedure; safe to call again (idempotent).

    ``skip_closed_windows`` (legacy imports): windows already closed get no event at all instead
    of a ``missed`` one, so a years-old case does not fill the record with surveys never asked.
    """
    now = now or clock.now()
    procedure = Procedure.objects.select_related("site").filter(pk=procedure_id).first()
    if procedure is None:
        return []
    # One planner per patient at a time: overlapping procedures are resolved against each other.
    # NO KEY UPDATE, not UPDATE: a sweep that opened an event of this patient checks its foreign
    # keys (KEY SHARE on the patient) when it commits while we wait on that event's lock; FOR
    # UPDATE would deadlock with it (tests/followup/test_planning_safety.py).
    patient = Patient.objects.select_for_update(no_key=True).get(pk=procedure.patient_id)
    # Lock the events before reading their status: a sweep opening one of them meanwhile is waited
    # for, and its new status is what we read (an invited event keeps the dates its link names).
    existing = {
        event.protocol_event_id: event
        for event in FollowUpEvent.objects.select_for_update(of=("self",))
        .select_related("protocol_event__protocol")
        .filter(procedure=procedure)
        .order_by("id")
    }
    if not existing and not _patient_in_followup(patient):
        return []
    # A planned procedure stays on the protocol it started with, even if its site changes protocol.
    first = next(iter(existing.values()), None)
    protocol = first.protocol_event.protocol if first else protocol_for_site(procedure.site)
    today = clock.local_date(now, procedure.site.time_zone)
    events = []
    for protocol_event in protocol.events.all():
        opens, invite, closes = _event_dates(procedure.performed_on, protocol_event)
        event = existing.get(protocol_event.id)
        if event is None:
            late = closes < today
            if late and skip_closed_windows:
                continue
            event = FollowUpEvent.objects.create(
                procedure=procedure,
                patient=patient,
                site=procedure.site,
                protocol_event=protocol_event,
                event_code=protocol_event.code,
                window_opens_on=opens,
                invite_on=invite,
                window_closes_on=closes,
                status=EventStatus.MISSED if late else EventStatus.SCHEDULED,
                cancel_cause=CancelCause.RECORDED_LATE if late else "",
                cancel_reason="The window had closed before the procedure was recorded." if late else "",
                status_changed_at=now,
            )
        elif event.status == EventStatus.SCHEDULED or _unsent_superseded(event):
            event.window_opens_on, event.invite_on, event.window_closes_on = opens, invite, closes
            event.event_code = protocol_event.code
            # Re-dated only in the status we read under the lock (belt and braces beside the lock).
            FollowUpEvent.objects.filter(pk=event.pk, status=event.status).update(
                window_opens_on=opens,
                invite_on=invite,
                window_closes_on=closes,
                event_code=protocol_event.code,
                updated_at=now,
            )
        events.append(event)
    _resolve_overlaps(patient=patient, now=now)
    if _patient_in_followup(patient):
        _plan_bone_health(procedure=procedure, patient=patient, protocol=protocol)
    return events


followup_replan_procedure = followup_schedule_procedure


def followup_schedule_patient(*, patient_id: int, now: datetime | None = None) -> int:
    """Plan every procedure of a patient, e.g. when consent is recorded after the procedure."""
    procedure_ids = list(
        Procedure.objects.filter(patient_id=patient_id).order_by("performed_on", "id").values_list("id", flat=True)
    )
    for procedure_id in procedure_ids:
        followup_schedule_procedure(procedure_id=procedure_id, now=now)
    return len(procedure_ids)


def _unsent_superseded(event: FollowUpEvent) -> bool:
    return event.status == EventStatus.SUPERSEDED and not SurveyInvitation.objects.filter(event=event).exists()


def _windows_overlap(a: FollowUpEvent, b: FollowUpEvent) -> bool:
    return a.window_opens_on <= b.window_closes_on and b.window_opens_on <= a.window_closes_on


# What "the later procedure leads" changes on an event, either way.
OVERLAP_FIELDS = ("status", "superseded_by", "status_changed_at", "cancel_cause", "cancel_reason", "updated_at")


def _resolve_overlaps(*, patient: Patient, now: datetime) -> None:
    """Apply "the later procedure leads" to the patient's unsent emailed events (module docstring)."""
    events = list(
        FollowUpEvent.objects.filter(patient=patient, invite_on__isnull=False)
        .select_related("procedure")
        .prefetch_related("invitation")
        .order_by("id")
    )
    if len({event.procedure_id for event in events}) < 2:
        return

    def rank(event):
        return (event.procedure.performed_on, event.procedure_id)

    live = [e for e in events if e.status not in (EventStatus.CANCELLED, EventStatus.SUPERSEDED)]
    for event in events:
        unsent = event.status == EventStatus.SCHEDULED or (
            event.status == EventStatus.SUPERSEDED and not hasattr(event, "invitation")
        )
        if not unsent:
            continue
        leader = next((other for other in live if rank(other) > rank(event) and _windows_overlap(event, other)), None)
        if leader is not None and (event.status != EventStatus.SUPERSEDED or event.superseded_by_id != leader.id):
            event.status, event.superseded_by, event.status_changed_at = EventStatus.SUPERSEDED, leader, now
            event.cancel_cause = CancelCause.SUPERSEDED
            event.cancel_reason = f"Superseded by the {leader.event_code} survey of a later procedure."
            event.save(update_fields=OVERLAP_FIELDS)
            live = [e for e in live if e.id != event.id]
        elif leader is None and event.status == EventStatus.SUPERSEDED:
            event.status, event.superseded_by, event.status_changed_at = EventStatus.SCHEDULED, None, now
            event.cancel_cause, event.cancel_reason = "", ""
            event.save(update_fields=OVERLAP_FIELDS)


def _months_before(day: date, months: int) -> date:
    year, month = divmod(day.month - 1 - months, 12)
    year, month = day.year + year, month + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(day)


def bone_health_due_on(*, kind: str, performed_on: date, protocol: FollowUpProtocol) -> date:
    """When a bone-health action is due: the DXA at the 3-month point, therapy at the early visit;
    a referral (no protocol time point) on the procedure day."""
    days = {event.code: event.invite_day or event.window_start_day for event in protocol.events.all()}
    day = {
        BoneHealthActionKind.DXA: days.get(DXA_EVENT_CODE, DXA_FALLBACK_DAY),
        BoneHealthActionKind.OSTEOPOROSIS_THERAPY: days.get(THERAPY_EVENT_CODE, THERAPY_FALLBACK_DAY),
    }.get(kind, 0)
    return performed_on + timedelta(days=day)


def _plan_bone_health(*, procedure: Procedure, patient: Patient, protocol: FollowUpProtocol) -> None:
    """DXA at the 3-month point without a DXA in the 24 months before; therapy at the early visit."""
    lookback = _months_before(procedure.performed_on, DXA_LOOKBACK_MONTHS)
    rules = {
        BoneHealthActionKind.DXA: patient.last_dxa_on is None or patient.last_dxa_on < lookback,
        BoneHealthActionKind.OSTEOPOROSIS_THERAPY: procedure.indication == Indication.OSTEOPOROTIC
        and patient.osteoporosis_therapy == OsteoporosisTherapy.NONE,
    }
    with acting_as(current_actor()):
        for kind, applies in rules.items():
            due_on = bone_health_due_on(kind=kind, performed_on=procedure.performed_on, protocol=protocol)
            action = BoneHealthAction.objects.filter(procedure=procedure, kind=kind).first()
            if action is None:
                if applies:
                    BoneHealthAction.objects.create(patient=patient, procedure=procedure, kind=kind, due_on=due_on)
            elif action.status == BoneHealthActionStatus.DUE:
                if not applies and action.reminders_sent == 0:
                    action.status = BoneHealthActionStatus.NOT_APPLICABLE
                    action.note = "The rule no longer applies after the procedure was changed."
                    action.save()
                elif applies and action.due_on != due_on:
                    action.due_on = due_on
                    action.save()


def protocol_replan(*, protocol_id: int, now: datetime | None = None) -> int:
    """After an administrator edits a protocol: add new events, re-date unsent ones. Returns count."""
    now = now or clock.now()
    procedure_ids = (
        FollowUpEvent.objects.filter(protocol_event__protocol_id=protocol_id)
        .values_list("procedure_id", flat=True)
        .distinct()
    )
    count = 0
    for procedure_id in procedure_ids.iterator(chunk_size=2000):
        followup_schedule_procedure(procedure_id=procedure_id, now=now)
        count += 1
    return count


# --- Stopping contact ----------------------------------------------------------------------------


@transaction.atomic
def followup_stop_contact(*, patient_id: int, reason: str, now: datetime | None = None) -> None:
    """Withdrawal, death or opt-out: nothing pending goes out from this moment."""
    if reason not in STOP_REASONS:
        raise ValueError(f"Unknown reason {reason!r}; expected one of {STOP_REASONS}.")
    now = now or clock.now()
    patient = Patient.objects.select_for_update(no_key=True).filter(pk=patient_id).first()
    if patient is None:
        return
    lifecycle.cancel_messages(
        OutboundMessage.objects.filter(patient=patient, kind__in=MessageKind.to_patient()), f"Patient {reason}."
    )
    if reason == "opted_out":
        lifecycle.open_worklist_item(
            kind=WorklistKind.OPTED_OUT, patient=patient, due_on=clock.local_date(now, patient.site.time_zone)
        )
        staffmail.opt_out_notices_create(patient=patient, now=now)
        return
    label = {"withdrawn": "Patient withdrew consent.", "deceased": "Patient deceased."}[reason]
    cause = {"withdrawn": CancelCause.WITHDRAWN, "deceased": CancelCause.DECEASED}[reason]
    for event in FollowUpEvent.objects.select_for_update().filter(patient=patient, status__in=EventStatus.open()):
        lifecycle.close_event(event, status=EventStatus.CANCELLED, cause=cause, reason=label, now=now)
    lifecycle.cancel_messages(OutboundMessage.objects.filter(patient=patient), label)
    lifecycle.close_worklist(
        WorklistItem.objects.filter(patient=patient, kind__in=(*WorklistKind.calls(), WorklistKind.OPTED_OUT)),
        note=label,
        now=now,
    )
    if reason == "withdrawn":
        # The whole site team learns it, not only whoever recorded it (calls, clinic visits).
        lifecycle.open_worklist_item(
            kind=WorklistKind.WITHDRAWN, patient=patient, due_on=clock.local_date(now, patient.site.time_zone)
        )


@transaction.atomic
def survey_opt_out(*, invitation: SurveyInvitation, now: datetime | None = None) -> Patient:
    """The patient clicked "stop emails" in a link: recorded by case capture (audited, announced),
    and stopped here at once in the same transaction rather than after the announcement."""
    from registry.patients.services import patient_opt_out

    patient = patient_opt_out(patient=invitation.event.patient)
    followup_stop_contact(patient_id=patient.pk, reason="opted_out", now=now)
    return patient


def survey_invitation_opened(*, invitation: SurveyInvitation, now: datetime | None = None) -> None:
    if invitation.opened_at is None:
        SurveyInvitation.objects.filter(pk=invitation.pk, opened_at__isnull=True).update(opened_at=now or clock.now())


# --- Responses -----------------------------------------------------------------------------------

ANSWER_KEYS = ("vas", "odi", "karnofsky", "red_flags", "new_fracture", "osteoporosis_therapy", "analgesic_use")
_YES_NO = {"yes": True, "no": False, "not_sure": None, "not_prescribed": False}


def _parse_answers(answers: dict) -> tuple[dict, dict]:
    """Validate and score raw answers with scoring.py; returns (fields, errors by answer key)."""
    errors: dict[str, str] = {}
    fields: dict = {}
    unknown = sorted(set(answers) - set(ANSWER_KEYS))
    if unknown:
        errors["__all__"] = f"Unknown answer(s): {', '.join(unknown)}."

    def blank(value) -> bool:
        return value is None or (isinstance(value, str) and not value.strip())

    try:
        fields["vas"] = None if blank(answers.get("vas")) else scoring.vas_validate(answers["vas"])
    except scoring.InvalidScoreError as exc:
        errors["vas"] = str(exc)
    odi_answers = answers.get("odi") or {}
    try:
        if not isinstance(odi_answers, dict):
            raise scoring.InvalidScoreError("ODI answers must be given per section.")
        odi_answers = {k: (int(v) if isinstance(v, str) and v.isdigit() else v) for k, v in odi_answers.items()}
        odi_answers = {k: v for k, v in odi_answers.items() if not blank(v)}
        odi = scoring.odi_score(odi_answers)
        fields.update(
            odi_answers=odi_answers,
            odi_percent=odi.rounded_percent,
            odi_answered=odi.answered if odi_answers else 0,
            odi_complete=odi.complete,
        )
    except scoring.InvalidScoreError as exc:
        errors["odi"] = str(exc)
    try:
        value = answers.get("karnofsky")
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        fields["karnofsky"] = None if blank(value) else scoring.karnofsky_validate(value)
    except scoring.InvalidScoreError as exc:
        errors["karnofsky"] = str(exc)
    red_flag_answers = answers.get("red_flags") or {}
    try:
        if not isinstance(red_flag_answers, dict):
            raise scoring.InvalidScoreError("Red-flag answers must be given per item.")
        fields["red_flags"] = list(scoring.red_flags_raised(red_flag_answers))
        fields["red_flag_answers"] = dict(red_flag_answers)
    except scoring.InvalidScoreError as exc:
        errors["red_flags"] = str(exc)
    followup_answers = {}
    for code, options in FOLLOWUP_OPTION_CODES.items():
        value = answers.get(code)
        if isinstance(value, bool):
            value = "yes" if value else "no"
        if blank(value):
            continue
        if value not in options:
            errors[code] = f"Choose one of: {', '.join(options)}."
            continue
        followup_answers[code] = value
    fields["followup_answers"] = followup_answers
    fields["new_fracture"] = _YES_NO.get(followup_answers.get("new_fracture", ""))
    fields["osteoporosis_therapy_taken"] = _YES_NO.get(followup_answers.get("osteoporosis_therapy", ""))
    fields["analgesic_use"] = followup_answers.get("analgesic_use", "")
    answered = (
        fields.get("vas") is not None
        or fields.get("odi_answered")
        or fields.get("karnofsky") is not None
        or any(v is not None for v in (red_flag_answers or {}).values())
        or followup_answers
    )
    if not errors and not answered:
        errors["__all__"] = "Nothing was answered."
    return fields, errors


def survey_response_record(
    *,
    patient: Patient,
    event: FollowUpEvent | None = None,
    event_code: str | None = None,
    source: str,
    answers: dict,
    acting_user=None,
    language: str = "en",
    procedure: Procedure | None = None,
    collected_on: date | None = None,
    now: datetime | None = None,
) -> SurveyResponse:
    """Validate, score (scoring.py), save; complete the event, spend its link, stop its reminders.

    ``answers``: ``vas`` (0–10, one decimal), ``odi`` ({section: 0–5 or None}), ``karnofsky``,
    ``red_flags`` ({code: bool or None}), ``new_fracture`` / ``osteoporosis_therapy`` /
    ``analgesic_use`` (option codes of instruments/followup_questions.json). Raises
    ``ValidationError`` with a message per answer key (``"__all__"`` for the whole response).
    Any red flag puts an item on the worklist and emails the site's coordinator and clinician
    at once (a send task queued on commit, not the next sweep).
    """
    now = now or clock.now()
    if source not in ResponseSource.values:
        raise ValidationError({"source": f"Unknown source {source!r}."})
    if acting_user is not None and not access.can_enter_data(acting_user, patient.site_id):
        # The one door (registry/access.py): a link answer has no user; staff enter their own sites only.
        raise PermissionDenied("This user may not enter data for this site.")
    fields, errors = _parse_answers(answers or {})
    if errors:
        raise ValidationError(errors)
    with transaction.atomic(), acting_as(acting_user) if acting_user else nullcontext():
        if event is not None:
            event = FollowUpEvent.objects.select_for_update().select_related("site").get(pk=event.pk)
            if event.patient_id != patient.pk:
                raise ValidationError({"__all__": "This survey belongs to another patient."})
            if event.status == EventStatus.COMPLETED or SurveyResponse.objects.filter(event=event).exists():
                raise ValidationError({"__all__": "This survey has already been answered."})
            if event.status in (EventStatus.CANCELLED, EventStatus.SUPERSEDED):
                raise ValidationError({"__all__": "This survey was cancelled and takes no more answers."})
            if event_code and event_code != event.event_code:
                raise ValidationError({"__all__": f"This is the {event.event_code} survey, not {event_code}."})
            event_code, procedure = event.event_code, event.procedure
        if not event_code:
            raise ValidationError({"__all__": "Say which time point these answers belong to."})
        if procedure is not None and procedure.patient_id != patient.pk:
            raise ValidationError({"procedure": "This procedure belongs to another patient."})
        response = SurveyResponse.objects.create(
            patient=patient,
            procedure=procedure,
            event=event,
            event_code=event_code,
            source=source,
            collected_on=collected_on or clock.local_date(now, patient.site.time_zone),
            language=language,
            entered_by=acting_user,
            submitted_at=now,
            **fields,
        )
        if event is not None:
            lifecycle.complete_event(event, response=response, now=now)
        if response.red_flags:
            _raise_red_flag(response=response, event=event, now=now)
        announce_on_commit(survey_response_recorded, response_id=response.pk, new_fracture=response.new_fracture)
    return response


def _raise_red_flag(*, response: SurveyResponse, event: FollowUpEvent | None, now: datetime) -> None:
    site = response.patient.site
    lifecycle.open_worklist_item(
        kind=WorklistKind.RED_FLAG,
        patient=response.patient,
        due_on=clock.local_date(now, site.time_zone),
        response=response,
        event=event,
    )
    # Urgent: due now, whatever the hour; dispatched_at stays empty so the next sweep rings too.
    ids = staffmail.staff_alerts_create(
        kind=MessageKind.RED_FLAG_ALERT,
        site=site,
        patient=response.patient,
        dedupe_prefix=f"rf:{response.pk}",
        due_at=now,
        response=response,
    )
    queueing.send_messages_on_commit(ids)


# --- Worklist and bone health --------------------------------------------------------------------


@transaction.atomic
def worklist_item_done(*, item: WorklistItem, acting_user, note: str = "", now: datetime | None = None) -> WorklistItem:
    now = now or clock.now()
    note = check_free_text(note, field="note")
    item = WorklistItem.objects.select_for_update().get(pk=item.pk)
    access.require_data_entry(acting_user, item.site_id)
    if item.status == WorklistStatus.DONE:
        return item
    if item.kind == WorklistKind.BONE_HEALTH and item.bone_health_action_id:
        action = item.bone_health_action
        if action.status == BoneHealthActionStatus.DUE:
            raise ValidationError({"__all__": "Record the outcome of the bone-health action (done, declined, n/a)."})
    item.status, item.note, item.done_by, item.done_at = WorklistStatus.DONE, note, acting_user, now
    item.save(update_fields=["status", "note", "done_by", "done_at", "updated_at"])
    return item


BONE_HEALTH_OUTCOMES = (
    BoneHealthActionStatus.DONE,
    BoneHealthActionStatus.DECLINED,
    BoneHealthActionStatus.NOT_APPLICABLE,
)


@transaction.atomic
def bone_health_action_resolve(
    *,
    action: BoneHealthAction,
    acting_user,
    status: str,
    done_on: date | None = None,
    t_score: Decimal | None = None,
    note: str = "",
    now: datetime | None = None,
) -> BoneHealthAction:
    """Done, declined or not applicable: weekly reminders stop and the worklist item closes."""
    now = now or clock.now()
    if status not in BONE_HEALTH_OUTCOMES:
        raise ValidationError({"status": "Choose done, declined or not applicable."})
    action = BoneHealthAction.objects.select_for_update().select_related("patient__site").get(pk=action.pk)
    access.require_data_entry(acting_user, action.patient.site_id)
    today = clock.local_date(now, action.patient.site.time_zone)
    if status == BoneHealthActionStatus.DONE:
        done_on = done_on or today
        if done_on > today:
            raise ValidationError({"done_on": "This date is in the future."})
    with acting_as(acting_user):
        action.status, action.done_on, action.acted_by = status, done_on, acting_user
        if t_score is not None:
            action.t_score = t_score
        if note:
            action.note = note
        action.full_clean(exclude=["patient", "procedure"])
        action.save()
    lifecycle.cancel_messages(action.messages.all(), "Bone-health action resolved.")
    lifecycle.close_worklist(
        WorklistItem.objects.filter(bone_health_action=action),
        note=note or action.get_status_display(),
        now=now,
        user=acting_user,
    )
    return action


def bone_health_actions_due(*, site_ids: list[int], today: date, remind_before: datetime):
    return BoneHealthAction.objects.filter(
        Q(last_reminded_at__isnull=True) | Q(last_reminded_at__lte=remind_before),
        status=BoneHealthActionStatus.DUE,
        due_on__lte=today,
        patient__site_id__in=site_ids,
        patient__consent_status=ConsentStatus.CONSENTED,
        patient__deceased_on__isnull=True,
    )
