"""The sweep (beat, every minute) and the sending of one message (one task per message).

Nothing here assumes it runs once. Each step claims its rows — ``select_for_update(skip_locked)``
or a conditional ``update()`` — and re-checks them under the lock, and every row it creates has a
unique key (one invitation per event, one ``dedupe_key`` per email, one open worklist item per
source). Two sweeps at once, or a sweep beside a retried send, therefore do nothing twice.

Delivery guarantee, and the window that remains
-----------------------------------------------
A message goes ``pending → sending`` by a conditional update (only one worker wins), is handed to
the SMTP server, and goes ``sending → sent`` right after the server's 250. If the worker dies
before the server accepted, the row stays ``sending``; after ``FOLLOWUP_SEND_LEASE_SECONDS``
(longer than the send task's hard time limit, so its owner is surely dead) the sweep puts it back
to ``pending`` and it is sent again: nothing is lost. If the broker loses the task (Redis
restarted), the row stays ``pending`` and the sweep rings again after ``REDISPATCH_AFTER``.

What remains is the instant between the server's 250 and our ``UPDATE ... sent``: a worker killed
exactly there causes a second copy after the lease (at-least-once; we chose it over at-most-once
because a lost invitation costs a time point, a duplicate costs a second email). We narrow it by
updating the row immediately after the 250 (nothing else in between), and by giving every copy
the same deterministic ``Message-ID`` (``emails.message_id_for``), so mail systems that collapse
duplicates by Message-ID show one message.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import get_connection
from django.db import transaction
from django.db.models import F, Q

from registry.followup import clock, services, staffmail, tokens
from registry.followup.emails import build_email
from registry.followup.models import (
    CancelCause,
    EventStatus,
    FollowUpEvent,
    MessageKind,
    MessageStatus,
    OutboundMessage,
    SurveyInvitation,
    WorklistKind,
)
from registry.patients.models import BoneHealthAction, BoneHealthActionStatus, ConsentStatus, Site

logger = logging.getLogger(__name__)

# A pending message whose send task was queued this long ago and never ran is queued again.
REDISPATCH_AFTER = timedelta(minutes=10)
BONE_HEALTH_EVERY = timedelta(days=7)
# Work done by one sweep at most; the next minute's sweep carries on.
OPEN_PER_SWEEP = 5000
DISPATCH_PER_SWEEP = 20000
MAX_BACKOFF_SECONDS = 3600


@dataclass
class SweepReport:
    now: datetime
    reclaimed: int = 0
    opened: int = 0
    closed: int = 0
    bone_health: int = 0
    dispatched: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "reclaimed": self.reclaimed,
            "opened": self.opened,
            "closed": self.closed,
            "bone_health": self.bone_health,
            "dispatched": len(self.dispatched),
        }


def followup_sweep(*, now: datetime | None = None, queue=None) -> SweepReport:
    """One pass: reclaim dead sends, open windows, close windows, bone health, queue due sends.

    ``queue(message_id)`` sends the doorbell (default: ``send_message_task.delay``).
    """
    now = now or clock.now()
    report = SweepReport(now=now)
    report.reclaimed = reclaim_stale_sends(now=now)
    days = _site_days(now)
    # Close first: what is left scheduled with an invitation day in the past then needs opening.
    report.closed = close_past_windows(now=now, days=days)
    report.opened = open_due_windows(now=now, days=days)
    report.bone_health = remind_bone_health(now=now, days=days)
    report.dispatched = dispatch_due_messages(now=now, queue=queue)
    return report


def _site_days(now: datetime) -> dict:
    """Sites grouped by their local date now: {date: ([site ids], time zone of each id)}."""
    days: dict = defaultdict(list)
    for site_id, tz in Site.objects.values_list("id", "time_zone"):
        days[clock.local_date(now, tz)].append(site_id)
    return dict(days)


def reclaim_stale_sends(*, now: datetime) -> int:
    lease = timedelta(seconds=settings.FOLLOWUP_SEND_LEASE_SECONDS)
    # A worker killed mid-send left the row "sending"; its lease is long past its time limit.
    return OutboundMessage.objects.filter(status=MessageStatus.SENDING, claimed_at__lt=now - lease).update(
        status=MessageStatus.PENDING, dispatched_at=None, last_error="Send interrupted; sent again."
    )


# --- Opening windows -----------------------------------------------------------------------------


def open_due_windows(*, now: datetime, days: dict) -> int:
    opened = 0
    for today, site_ids in days.items():
        # Only (status, invite_on) in the condition: a range scan over what is due, whatever N is.
        candidates = FollowUpEvent.objects.filter(
            status=EventStatus.SCHEDULED, invite_on__lte=today, site_id__in=site_ids
        ).order_by("invite_on", "id")
        for event_id in candidates.values_list("id", flat=True)[:OPEN_PER_SWEEP]:
            opened += open_event(event_id=event_id, now=now)
    return opened


@transaction.atomic
def open_event(*, event_id: int, now: datetime) -> bool:
    """Create the event's invitation and its emails (or a phone item); False if someone else did."""
    event = (
        FollowUpEvent.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("patient", "site", "protocol_event", "procedure")
        .filter(pk=event_id, status=EventStatus.SCHEDULED)
        .first()
    )
    if event is None:
        return False
    patient, site = event.patient, event.site
    if event.window_closes_on < clock.local_date(now, site.time_zone):
        return False  # closed unanswered: the close step makes it missed
    if patient.consent_status != ConsentStatus.CONSENTED or patient.deceased_on is not None:
        services._close_event(
            event,
            status=EventStatus.CANCELLED,
            cause=CancelCause.NOT_IN_FOLLOWUP,
            reason="Patient not in follow-up.",
            now=now,
        )
        return False
    services.supersede_open_overlaps(event=event, now=now)
    expires_at = clock.start_of_day(event.window_closes_on + timedelta(days=1), site.time_zone)
    salt = tokens.new_salt()
    # The token needs the primary key: insert with a placeholder hash (unique by the salt), then set it.
    invitation = SurveyInvitation.objects.create(
        event=event, token_salt=salt, token_hash=f"new:{salt}"[:64], expires_at=expires_at, created_at=now
    )
    invitation.token_hash = tokens.token_hash(tokens.invitation_token(invitation))
    invitation.save(update_fields=["token_hash"])
    event.status, event.status_changed_at = EventStatus.INVITED, now
    event.save(update_fields=["status", "status_changed_at", "updated_at"])
    today = clock.local_date(now, site.time_zone)
    if patient.email and not patient.contact_opt_out:
        # One INSERT for the invitation and its reminders; the unique dedupe_key forbids copies.
        OutboundMessage.objects.bulk_create(
            [
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
                for n, due_at in enumerate(_message_times(event=event, now=now, expires_at=expires_at))
            ],
            ignore_conflicts=True,
        )
    else:
        # No email (or "stop emails"): the coordinator phones while the window is open.
        services.open_worklist_item(kind=WorklistKind.PHONE_DUE, patient=patient, due_on=today, event=event)
    return True


def _message_times(*, event: FollowUpEvent, now: datetime, expires_at: datetime) -> list[datetime]:
    """The invitation now, then reminders N days after it; at most max_messages; none after expiry."""
    tz = event.site.time_zone
    first = clock.next_send_time(now, tz)
    times = [first]
    for offset in event.protocol_event.reminder_offsets_days or []:
        due = clock.next_send_time(first + timedelta(days=offset), tz)
        if due < expires_at:
            times.append(due)
    return times[: max(1, event.protocol_event.max_messages)]


# --- Closing windows -----------------------------------------------------------------------------


def close_past_windows(*, now: datetime, days: dict) -> int:
    closed = 0
    for today, site_ids in days.items():
        for status in EventStatus.open():
            # One index range scan per status: (status, window_closes_on).
            candidates = FollowUpEvent.objects.filter(
                status=status, window_closes_on__lt=today, site_id__in=site_ids
            ).order_by("window_closes_on", "id")
            for event_id in candidates.values_list("id", flat=True)[:OPEN_PER_SWEEP]:
                closed += close_event(event_id=event_id, now=now)
    return closed


@transaction.atomic
def close_event(*, event_id: int, now: datetime) -> bool:
    event = (
        FollowUpEvent.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("patient", "site")
        .filter(pk=event_id, status__in=EventStatus.open())
        .first()
    )
    if event is None or event.window_closes_on >= clock.local_date(now, event.site.time_zone):
        return False
    services._close_event(event, status=EventStatus.MISSED, reason="Window closed unanswered.", now=now)
    patient = event.patient
    # Surveys the coordinator enters (baseline) are not phoned for after the fact.
    if event.invite_on is not None and patient.consent_status == ConsentStatus.CONSENTED and not patient.deceased_on:
        services.open_worklist_item(
            kind=WorklistKind.MISSED_EVENT,
            patient=patient,
            due_on=clock.local_date(now, event.site.time_zone),
            event=event,
        )
    return True


# --- Bone health ---------------------------------------------------------------------------------


def remind_bone_health(*, now: datetime, days: dict) -> int:
    count = 0
    for today, site_ids in days.items():
        due = services.bone_health_actions_due(site_ids=site_ids, today=today, remind_before=now - BONE_HEALTH_EVERY)
        for action_id in due.values_list("id", flat=True)[:OPEN_PER_SWEEP]:
            count += remind_bone_health_action(action_id=action_id, now=now)
    return count


@transaction.atomic
def remind_bone_health_action(*, action_id: int, now: datetime) -> bool:
    action = (
        BoneHealthAction.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("patient__site")
        .filter(
            Q(last_reminded_at__isnull=True) | Q(last_reminded_at__lte=now - BONE_HEALTH_EVERY),
            pk=action_id,
            status=BoneHealthActionStatus.DUE,
        )
        .first()
    )
    if action is None:
        return False
    patient = action.patient
    number = action.reminders_sent + 1
    # No email per action: the open worklist item is listed in the staff's daily digest (staffmail.py).
    # update(), not save(): the reminder bookkeeping is not clinical data and needs no history row.
    BoneHealthAction.objects.filter(pk=action.pk).update(last_reminded_at=now, reminders_sent=number)
    services.open_worklist_item(
        kind=WorklistKind.BONE_HEALTH, patient=patient, due_on=action.due_on, bone_health_action=action
    )
    return True


# --- Dispatch ------------------------------------------------------------------------------------


# Messages per send task: one task per message spent more time in the broker than in SMTP.
SEND_BATCH = 20


def dispatch_due_messages(*, now: datetime, queue=None) -> list[int]:
    """Mark due messages as rung and queue their sending, after the marks are committed.

    By default the ids go out in batches of ``SEND_BATCH`` per task; ``queue`` (tests, commands)
    takes one id at a time. Each message is still claimed on its own in ``message_send``, so a
    batch that runs twice, or dies half-way, sends nothing twice and loses nothing.
    """
    with transaction.atomic():
        ids = list(
            OutboundMessage.objects.select_for_update(skip_locked=True)
            .filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=now - REDISPATCH_AFTER))
            .filter(status=MessageStatus.PENDING, due_at__lte=now)
            .order_by("due_at", "id")
            .values_list("id", flat=True)[:DISPATCH_PER_SWEEP]
        )
        OutboundMessage.objects.filter(id__in=ids).update(dispatched_at=now)
    # If the broker is down this raises; the rows stay pending and are rung again later.
    if queue is None:
        from registry.followup.tasks import send_messages_task

        for start in range(0, len(ids), SEND_BATCH):
            send_messages_task.delay(ids[start : start + SEND_BATCH])
    else:
        for message_id in ids:
            queue(message_id)
    return ids


# --- Sending one message -------------------------------------------------------------------------


@dataclass
class SendOutcome:
    status: str
    retry_in: int | None = None


class TemporarySendError(Exception):
    pass


def is_temporary(exc: BaseException) -> bool:
    """4xx replies, refused or dropped connections and timeouts are worth another try; 5xx are not."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(400 <= code < 500 for code in codes)
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    # OSError covers refused and reset connections, timeouts and smtplib's other errors.
    return isinstance(exc, OSError | TemporarySendError)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        detail = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        return f"{type(exc).__name__} {exc.smtp_code}: {detail}"[:500]
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return f"{type(exc).__name__}: {sorted({code for code, _ in exc.recipients.values()})}"
    return f"{type(exc).__name__}: {exc}"[:500]


# One SMTP connection per worker process (or thread), reused across sends: the dispatch rate
# depends on it. The server may close it when idle; a fresh one is then opened once.
_local = threading.local()


def _smtp_send(email) -> None:
    for attempt in (1, 2):
        connection = getattr(_local, "connection", None)
        reused = connection is not None
        if connection is None:
            connection = _local.connection = get_connection(fail_silently=False)
            connection.open()
        email.connection = connection
        try:
            sent = email.send()
        except smtplib.SMTPServerDisconnected:
            _drop_connection()
            if reused and attempt == 1:
                continue
            raise
        except Exception:
            _drop_connection()
            raise
        if sent != 1:
            raise TemporarySendError("The mail backend accepted nothing.")
        return


def _drop_connection() -> None:
    connection = getattr(_local, "connection", None)
    _local.connection = None
    if connection is not None:
        # A broken connection may fail to close; it is dropped anyway.
        with contextlib.suppress(Exception):
            connection.close()


def _stale_reason(message: OutboundMessage, now: datetime) -> str:
    """Why a claimed message must not go out any more ("" if it must)."""
    patient = message.patient
    if message.kind in MessageKind.to_patient():
        if not patient.may_be_contacted:
            return "Patient may no longer be contacted."
        if not patient.email:
            return "Patient has no email address."
        invitation = message.invitation
        if invitation.submitted_at is not None:
            return "Survey answered."
        if invitation.event.status != EventStatus.INVITED or invitation.is_expired(now):
            return "Survey closed."
    elif message.kind == MessageKind.BONE_HEALTH_REMINDER:
        if message.bone_health_action.status != BoneHealthActionStatus.DUE:
            return "Bone-health action resolved."
        if patient.consent_status != ConsentStatus.CONSENTED or patient.deceased_on:
            return "Patient no longer in follow-up."
    elif message.kind == MessageKind.STAFF_DIGEST and staffmail.digest_is_empty(message):
        return "Nothing open any more."
    return ""


def message_send(*, message_id: int, now: datetime | None = None) -> SendOutcome:
    return messages_send(message_ids=[message_id], now=now)[message_id]


def messages_send(*, message_ids: list[int], now: datetime | None = None) -> dict[int, SendOutcome]:
    """Claim, check and send a batch of messages; one SMTP connection, three queries per batch.

    The claim is one locked ``UPDATE`` of the rows still pending (a row another worker holds or
    has sent is skipped: ``not_claimed``). Each row is then marked sent straight after its own
    250. A worker killed half-way leaves the rest ``sending``; the sweep reclaims them after the
    lease, so they are sent later, never lost.
    """
    now = now or clock.now()
    outcomes = {pk: SendOutcome("not_claimed") for pk in message_ids}
    with transaction.atomic():
        claimed = list(
            OutboundMessage.objects.select_for_update(skip_locked=True)
            .filter(pk__in=message_ids, status=MessageStatus.PENDING)
            .values_list("pk", flat=True)
        )
        OutboundMessage.objects.filter(pk__in=claimed).update(
            status=MessageStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1
        )
    # Staff messages (rare) load their action or response lazily; patient ones need one join.
    messages = OutboundMessage.objects.select_related("site", "patient", "invitation__event").filter(pk__in=claimed)
    for message in sorted(messages, key=lambda m: message_ids.index(m.pk)):
        outcomes[message.pk] = _send_claimed(message, now)
    return outcomes


def _send_claimed(message: OutboundMessage, now: datetime) -> SendOutcome:
    reason = _stale_reason(message, now)
    if reason:
        OutboundMessage.objects.filter(pk=message.pk, status=MessageStatus.SENDING).update(
            status=MessageStatus.CANCELLED, last_error=reason
        )
        return SendOutcome("cancelled")
    if message.kind in MessageKind.to_patient():
        # The address and language the patient has now, not when the reminder was planned.
        message.to_address, message.language = message.patient.email, message.patient.preferred_language
    try:
        email = build_email(message)
        _smtp_send(email)
    except Exception as exc:
        return _send_failed(message, exc, now)
    # Straight after the server's 250: the only window for a duplicate is before this line.
    OutboundMessage.objects.filter(pk=message.pk, status=MessageStatus.SENDING).update(
        status=MessageStatus.SENT, sent_at=now, last_error="", to_address=message.to_address
    )
    logger.info("followup: sent %s #%s", message.kind, message.pk)
    return SendOutcome("sent")


def _send_failed(message: OutboundMessage, exc: BaseException, now: datetime) -> SendOutcome:
    error = _describe(exc)
    attempts = message.attempts
    if is_temporary(exc) and attempts < settings.FOLLOWUP_SEND_MAX_ATTEMPTS:
        delay = min(settings.FOLLOWUP_SEND_RETRY_SECONDS * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS)
        # Back to pending: the task's retry sends it; if that retry is lost, the sweep does.
        OutboundMessage.objects.filter(pk=message.pk, status=MessageStatus.SENDING).update(
            status=MessageStatus.PENDING, due_at=now + timedelta(seconds=delay), dispatched_at=now, last_error=error
        )
        logger.warning("followup: temporary failure for message #%s (attempt %s): %s", message.pk, attempts, error)
        return SendOutcome("retry", retry_in=delay)
    with transaction.atomic():
        OutboundMessage.objects.filter(pk=message.pk, status=MessageStatus.SENDING).update(
            status=MessageStatus.FAILED, last_error=error
        )
        services.failed_message_to_worklist(message=message, now=now)
    logger.error("followup: message #%s failed after %s attempt(s): %s", message.pk, attempts, error)
    return SendOutcome("failed")
