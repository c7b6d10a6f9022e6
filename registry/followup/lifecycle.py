"""The life-cycle of events, invitations, messages and worklist items: the one home of each step.

``services.py`` (what people and other apps ask for) and ``dispatch.py`` (the sweep and the
sends) both move rows through these functions; neither reaches into the other. Every function
runs inside its caller's transaction and expects the rows it changes to be locked by the caller
(or re-checks their status in its own conditional ``update()``).

Statuses shown to people are derived here from the rows (``event_status_label``,
``message_state``), never stored twice: an event is ``invited`` when its link exists, but the
coordinator reads "Invited" only once the SMTP server has accepted the invitation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import QuerySet
from django.utils import formats
from django.utils.translation import gettext as _

from registry.core.audit import history_copy
from registry.followup import clock, tokens
from registry.followup.models import (
    CancelCause,
    EventStatus,
    FollowUpEvent,
    MessageKind,
    MessageStatus,
    OutboundMessage,
    SurveyInvitation,
    WorklistItem,
    WorklistKind,
    WorklistStatus,
)
from registry.patients.models import ConsentStatus, Patient, Site

# --- Calendar ------------------------------------------------------------------------------------


def calendar_for(site: Site) -> clock.SendingCalendar:
    return clock.SendingCalendar.for_site(site)


def invitation_expiry(event: FollowUpEvent) -> datetime:
    """The link works until the end of the window's last day in the site's zone."""
    return clock.start_of_day(event.window_closes_on + timedelta(days=1), event.site.time_zone)


def message_times(
    *, event: FollowUpEvent, now: datetime, expires_at: datetime, calendar: clock.SendingCalendar
) -> list[datetime]:
    """The invitation at the next sending time, then reminders N days after it (each at a sending
    time); at most ``max_messages``, none after the link expires."""
    first = calendar.next_send_time(now)
    times = [first]
    for offset in event.protocol_event.reminder_offsets_days or []:
        due = calendar.next_send_time(first + timedelta(days=offset))
        if due < expires_at:
            times.append(due)
    return times[: max(1, event.protocol_event.max_messages)]


# --- Worklist ------------------------------------------------------------------------------------


def open_worklist_item(*, kind: str, patient: Patient, due_on: date, **sources) -> WorklistItem:
    """One open item per source (unique constraints); a second call returns the first."""
    lookup = {key: value for key, value in sources.items() if value is not None}
    item = WorklistItem.objects.filter(kind=kind, status=WorklistStatus.OPEN, **lookup).first()
    if item is not None:
        return item
    return WorklistItem.objects.create(kind=kind, patient=patient, site_id=patient.site_id, due_on=due_on, **lookup)


def close_worklist(queryset: QuerySet[WorklistItem], *, note: str, now: datetime, user=None) -> int:
    return queryset.filter(status=WorklistStatus.OPEN).update(
        status=WorklistStatus.DONE, note=note, done_at=now, done_by=user
    )


def failed_message_to_worklist(*, message: OutboundMessage, now: datetime) -> WorklistItem | None:
    patient = message.patient
    if patient is None:
        return None
    return open_worklist_item(
        kind=WorklistKind.FAILED_EMAIL,
        patient=patient,
        due_on=clock.local_date(now, message.site.time_zone),
        message=message,
    )


# --- Messages ------------------------------------------------------------------------------------


def cancel_messages(queryset: QuerySet[OutboundMessage], reason: str) -> int:
    """Pending messages of ``queryset`` will not go out; ``reason`` is what the patient page shows."""
    return queryset.filter(status=MessageStatus.PENDING).update(status=MessageStatus.CANCELLED, last_error=reason)


def address_failed_permanently(*, message: OutboundMessage, now: datetime) -> int:
    """A 5xx for an address: its later messages are cancelled and one worklist item asks for a
    correct address (the failed message's item; the cancelled ones add none)."""
    reason = "An earlier email to this address was refused permanently."
    cancelled = cancel_messages(
        OutboundMessage.objects.filter(to_address__iexact=message.to_address).exclude(pk=message.pk), reason
    )
    failed_message_to_worklist(message=message, now=now)
    return cancelled


def message_state(message: OutboundMessage, tz_name: str) -> str:
    """What happened to one email, in words: due at, sent at, failed (why), cancelled (why)."""
    if message.status == MessageStatus.SENT:
        return _("sent %(when)s") % {"when": _local(message.sent_at, tz_name)}
    if message.status in (MessageStatus.PENDING, MessageStatus.SENDING):
        if message.attempts and message.last_error:
            return _("due %(when)s (retrying after a temporary error)") % {"when": _local(message.due_at, tz_name)}
        return _("due %(when)s") % {"when": _local(message.due_at, tz_name)}
    if message.status == MessageStatus.FAILED:
        return _("failed: %(why)s") % {"why": message.last_error}
    return _("cancelled: %(why)s") % {"why": message.last_error or _("no reason recorded")}


def _local(instant: datetime | None, tz_name: str) -> str:
    if instant is None:
        return ""
    return formats.date_format(instant.astimezone(ZoneInfo(tz_name)), "j M Y H:i")


def event_status_label(event: FollowUpEvent, invitation_message: OutboundMessage | None) -> str:
    """The event's status as a coordinator must read it: "Invited" only once the server accepted."""
    if event.status != EventStatus.INVITED or invitation_message is None:
        return event.get_status_display()
    tz = event.site.time_zone
    if invitation_message.status == MessageStatus.SENT:
        return _("Invited %(when)s") % {"when": _local(invitation_message.sent_at, tz)}
    if invitation_message.status in (MessageStatus.PENDING, MessageStatus.SENDING):
        return _("Invitation due %(when)s") % {"when": _local(invitation_message.due_at, tz)}
    if invitation_message.status == MessageStatus.FAILED:
        return _("Invitation failed")
    return _("Invitation cancelled")


# --- Events --------------------------------------------------------------------------------------


def close_event(event: FollowUpEvent, *, status: str, reason: str, now: datetime, cause: str = "") -> None:
    """Close an open event (missed, cancelled, superseded): its link stops working, its pending
    emails are cancelled with ``reason`` and its calls leave the worklist. ``cause`` is the
    CancelCause reports read (empty for a window that ran out)."""
    event.status, event.status_changed_at, event.cancel_cause, event.cancel_reason = status, now, cause, reason
    event.save(update_fields=["status", "status_changed_at", "cancel_cause", "cancel_reason", "updated_at"])
    invitation = SurveyInvitation.objects.filter(event=event).first()
    if invitation is not None:
        if invitation.expires_at > now:
            invitation.expires_at = now
            invitation.save(update_fields=["expires_at"])
        cancel_messages(invitation.messages.all(), reason)
    close_worklist(WorklistItem.objects.filter(event=event, kind__in=WorklistKind.calls()), note=reason, now=now)


def complete_event(event: FollowUpEvent, *, response, now: datetime) -> None:
    event.status, event.status_changed_at = EventStatus.COMPLETED, now
    event.save(update_fields=["status", "status_changed_at", "updated_at"])
    invitation = SurveyInvitation.objects.filter(event=event).first()
    if invitation is not None:
        if invitation.submitted_at is None:
            invitation.submitted_at = now
            invitation.save(update_fields=["submitted_at"])
        cancel_messages(invitation.messages.all(), "Survey answered.")
    close_worklist(
        WorklistItem.objects.filter(event=event, kind__in=WorklistKind.calls()),
        note=f"Answered ({response.get_source_display()}).",
        now=now,
        user=response.entered_by,
    )


def _rank(event: FollowUpEvent) -> tuple:
    return (event.procedure.performed_on, event.procedure_id)


def _overlap(a: FollowUpEvent, b: FollowUpEvent) -> bool:
    return a.window_opens_on <= b.window_closes_on and b.window_opens_on <= a.window_closes_on


def supersede_open_overlaps(*, events: list[FollowUpEvent], now: datetime) -> int:
    """When ``events`` open, close still-open emailed events of earlier procedures in the same weeks
    (one query for the whole batch; the rare hits are closed one by one)."""
    if not events:
        return 0
    by_patient: dict[int, list[FollowUpEvent]] = {}
    for event in events:
        by_patient.setdefault(event.patient_id, []).append(event)
    earlier = (
        FollowUpEvent.objects.filter(patient_id__in=by_patient, status=EventStatus.INVITED, invite_on__isnull=False)
        .select_related("procedure")
        .select_for_update(of=("self",))
        .order_by("id")
    )
    count = 0
    for other in earlier:
        leader = next(
            (
                event
                for event in by_patient[other.patient_id]
                if event.procedure_id != other.procedure_id and _rank(other) < _rank(event) and _overlap(event, other)
            ),
            None,
        )
        if leader is None:
            continue
        close_event(
            other,
            status=EventStatus.SUPERSEDED,
            cause=CancelCause.SUPERSEDED,
            reason="Superseded by a later procedure.",
            now=now,
        )
        other.superseded_by = leader
        other.save(update_fields=["superseded_by"])
        count += 1
    return count


def _superseded_in_batch(event: FollowUpEvent, same_patient: list[FollowUpEvent], now: datetime) -> bool:
    """A later procedure's overlapping window opens in the same batch: this one is never sent."""
    leader = next(
        (
            other
            for other in same_patient
            if other.procedure_id != event.procedure_id and _rank(event) < _rank(other) and _overlap(event, other)
        ),
        None,
    )
    if leader is None:
        return False
    close_event(
        event,
        status=EventStatus.SUPERSEDED,
        cause=CancelCause.SUPERSEDED,
        reason="Superseded by a later procedure.",
        now=now,
    )
    event.superseded_by = leader
    event.save(update_fields=["superseded_by"])
    return True


def _set_token_hashes(invitations: list[SurveyInvitation]) -> None:
    """One statement sent as a pipeline: Django's bulk_update builds a CASE over every row, which
    cost more than the rest of opening a window."""
    table = connection.ops.quote_name(SurveyInvitation._meta.db_table)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET token_hash = %s WHERE id = %s",  # noqa: S608 - the table name is ours
            [(invitation.token_hash, invitation.pk) for invitation in invitations],
        )


_OPEN_FIELDS = (
    "id",
    "patient_id",
    "site_id",
    "procedure_id",
    "protocol_event_id",
    "event_code",
    "window_opens_on",
    "invite_on",
    "window_closes_on",
    "status",
    "status_changed_at",
    "superseded_by_id",
    "patient__id",
    "patient__site_id",
    "patient__email",
    "patient__contact_opt_out",
    "patient__consent_status",
    "patient__deceased_on",
    "patient__preferred_language",
    "protocol_event__id",
    "protocol_event__reminder_offsets_days",
    "protocol_event__max_messages",
    "procedure__id",
    "procedure__performed_on",
)


@dataclass
class OpenedWindows:
    opened: int = 0
    cancelled: int = 0


def open_events(*, event_ids: list[int], now: datetime) -> OpenedWindows:
    """Open the windows of a batch of events, set-based: lock them (skipping rows another sweep
    holds), then one INSERT of invitations, one UPDATE of their token hashes, one UPDATE of the
    events, one INSERT of their emails and one of the phone calls. Must run in a transaction.

    Rows that changed since they were picked (no longer scheduled, window closed) are left alone;
    a patient no longer in follow-up has the event cancelled instead.
    """
    result = OpenedWindows()
    events = list(
        FollowUpEvent.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("patient", "protocol_event", "procedure")
        # Only what opening reads: building thousands of full Patient rows cost more than the SQL.
        .only(*_OPEN_FIELDS)
        .filter(pk__in=event_ids, status=EventStatus.SCHEDULED)
        .order_by("invite_on", "id")
    )
    # A handful of sites for the whole batch, attached to each event (no query per event).
    sites = Site.objects.in_bulk({event.site_id for event in events})
    for event in events:
        event.site = sites[event.site_id]
    calendars: dict[int, clock.SendingCalendar] = {}
    to_open: list[FollowUpEvent] = []
    for event in events:
        patient = event.patient
        if event.window_closes_on < clock.local_date(now, event.site.time_zone):
            continue  # closed unanswered: the close step makes it missed
        if patient.consent_status != ConsentStatus.CONSENTED or patient.deceased_on is not None:
            close_event(
                event,
                status=EventStatus.CANCELLED,
                cause=CancelCause.NOT_IN_FOLLOWUP,
                reason="Patient not in follow-up.",
                now=now,
            )
            result.cancelled += 1
            continue
        to_open.append(event)
    by_patient: dict[int, list[FollowUpEvent]] = {}
    for event in to_open:
        by_patient.setdefault(event.patient_id, []).append(event)
    to_open = [
        event
        for event in to_open
        if len(by_patient[event.patient_id]) == 1 or not _superseded_in_batch(event, by_patient[event.patient_id], now)
    ]
    if not to_open:
        return result
    supersede_open_overlaps(events=to_open, now=now)
    salts = {event.pk: tokens.new_salt() for event in to_open}
    # The token needs the primary key: insert with placeholder hashes (unique by the salt), then set them.
    invitations = SurveyInvitation.objects.bulk_create(
        [
            SurveyInvitation(
                event=event,
                token_salt=salts[event.pk],
                token_hash=f"new:{salts[event.pk]}"[:64],
                expires_at=invitation_expiry(event),
                created_at=now,
            )
            for event in to_open
        ]
    )
    for invitation in invitations:
        invitation.token_hash = tokens.token_hash(tokens.invitation_token(invitation))
    _set_token_hashes(invitations)
    FollowUpEvent.objects.filter(pk__in=[event.pk for event in to_open]).update(
        status=EventStatus.INVITED, status_changed_at=now, updated_at=now
    )
    # The set-based update bypasses simple-history's signals: its audit rows are copied in one statement.
    history_copy(model=FollowUpEvent, ids=[event.pk for event in to_open], history_type="~")
    history_copy(model=SurveyInvitation, ids=[invitation.pk for invitation in invitations], history_type="+")
    messages, calls = [], []
    for event, invitation in zip(to_open, invitations, strict=True):
        patient, site = event.patient, event.site
        event.status, event.status_changed_at = EventStatus.INVITED, now
        if patient.email and not patient.contact_opt_out:
            calendar = calendars.get(site.pk) or calendars.setdefault(site.pk, calendar_for(site))
            times = message_times(event=event, now=now, expires_at=invitation.expires_at, calendar=calendar)
            messages.extend(
                OutboundMessage(
                    dedupe_key=f"inv:{invitation.pk}:{n}",
                    kind=MessageKind.INVITATION if n == 0 else MessageKind.REMINDER,
                    site=site,
                    patient=patient,
                    invitation=invitation,
                    to_address=patient.email,
                    language=patient.preferred_language,
                    due_at=due_at,
                )
                for n, due_at in enumerate(times)
            )
        else:
            # No email (or "stop emails"): the coordinator phones while the window is open.
            calls.append(
                WorklistItem(
                    kind=WorklistKind.PHONE_DUE,
                    patient=patient,
                    site_id=patient.site_id,
                    event=event,
                    due_on=clock.local_date(now, site.time_zone),
                )
            )
    # The unique dedupe_key and the one-open-item-per-event constraint forbid copies.
    OutboundMessage.objects.bulk_create(messages, ignore_conflicts=True)
    if calls:
        # ignore_conflicts returns no keys: the new items are those that were not there before.
        call_items = WorklistItem.objects.filter(event_id__in=[c.event_id for c in calls], kind=WorklistKind.PHONE_DUE)
        before = set(call_items.values_list("pk", flat=True))
        WorklistItem.objects.bulk_create(calls, ignore_conflicts=True)
        new_ids = sorted(set(call_items.values_list("pk", flat=True)) - before)
        history_copy(model=WorklistItem, ids=new_ids, history_type="+")
    result.opened = len(to_open)
    return result


def miss_event(*, event_id: int, now: datetime) -> bool:
    """The window ran out unanswered: missed, and a call on the worklist for emailed time points.
    Must run in a transaction; False if the event is locked elsewhere, closed, or still open."""
    event = (
        FollowUpEvent.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("patient", "site")
        .filter(pk=event_id, status__in=EventStatus.open())
        .first()
    )
    if event is None or event.window_closes_on >= clock.local_date(now, event.site.time_zone):
        return False
    close_event(event, status=EventStatus.MISSED, reason="Window closed unanswered.", now=now)
    patient = event.patient
    # Surveys the coordinator enters (baseline) are not phoned for after the fact.
    if event.invite_on is not None and patient.consent_status == ConsentStatus.CONSENTED and not patient.deceased_on:
        open_worklist_item(
            kind=WorklistKind.MISSED_EVENT,
            patient=patient,
            due_on=clock.local_date(now, event.site.time_zone),
            event=event,
        )
    return True
