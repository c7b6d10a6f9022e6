"""The sweep (beat, every minute) and the sending of messages (batches of ``queueing.SEND_BATCH``).

Nothing here assumes it runs once. Each step claims its rows — ``select_for_update(skip_locked)``
or a conditional ``update()`` — and re-checks them under the lock, and every row it creates has a
unique key (one invitation per event, one ``dedupe_key`` per email, one open worklist item per
source). Two sweeps at once, or a sweep beside a retried send, therefore do nothing twice.

Delivery guarantee, and the window that remains
-----------------------------------------------
A batch of messages goes ``pending → sending`` in one ``UPDATE ... RETURNING`` (rows another
worker holds are skipped, so only one worker wins each), each message is handed to the SMTP
server, and each accepted one goes ``sending → sent`` in its own ``UPDATE`` (``MARK_SENT_GROUP``
is 1) before the next can be accepted: that ``UPDATE`` commits while the next message is built
and its envelope and body go out, and the next message's final ``.`` (the moment the server
accepts it) waits for the commit (``SentMarks``, ``mailer.send``). If the worker dies before the
server accepted, the row stays ``sending``; after ``FOLLOWUP_SEND_LEASE_SECONDS`` (longer than
the send task's hard time limit, so its owner is surely dead) the sweep puts it back to
``pending`` and it is sent again: nothing is lost. If the broker loses the task (Redis
restarted), the row stays ``pending`` and the sweep rings again after
``FOLLOWUP_REDISPATCH_SECONDS`` (default 120 s, two sweeps).

If the database goes away (restart, terminated connections) the task is retried within seconds,
never left to the lease: claims not yet handed to the SMTP server are given back (``pending``);
if even that fails they stay ``sending`` marked with the task's id (``claimed_by``), and its
retry (same id) takes them back. A message the SMTP server accepted is marked sent by retrying
that one ``UPDATE`` until the database answers (up to ``MARK_SENT_PATIENCE`` seconds); if it
still does not, the retry is told which messages were accepted and records them, never sending
them again.

What remains is the time between the server's 250 and the ``UPDATE ... sent`` committing: a
worker process killed then causes a second copy, after the lease, of the one message it had just
handed over (at-least-once; we chose it over at-most-once because a lost invitation costs a time
point, a duplicate costs a second email). A worker killed while the next message is held before
its ``.`` closes the connection mid-data, and the server discards that message. Recording several
accepted messages in one ``UPDATE`` would be faster under load (BENCHMARKS.md, "Follow-up engine":
groups of 5 measured) but would widen that window to the whole group, so the mark stays one per
message, and its commit overlaps the next message's exchange instead.
Every copy carries the
same deterministic ``Message-ID`` (``emails.message_id_for``), so mail systems that collapse
duplicates by Message-ID show one message.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import threading
import time
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection, transaction
from django.db.models import Case, Exists, F, OuterRef, PositiveSmallIntegerField, Q, Subquery, When

from registry.followup import clock, lifecycle, mailer, queueing, services, staffmail
from registry.followup.emails import build_email
from registry.followup.models import (
    EventStatus,
    FollowUpEvent,
    MessageKind,
    MessageStatus,
    OutboundMessage,
    ProtocolEvent,
    SweepCursor,
    WorklistKind,
)
from registry.patients.models import BoneHealthAction, BoneHealthActionStatus, ConsentStatus, Site
from registry.procedures.models import Procedure

logger = logging.getLogger(__name__)

BONE_HEALTH_EVERY = timedelta(days=7)
# Work done by one sweep at most; the next minute's sweep carries on.
OPEN_PER_SWEEP = 5000
OPEN_BATCH = 500
DISPATCH_PER_SWEEP = 20000
PLAN_PER_SWEEP = 200
# Procedure ids per slice the sweep looks at for planning that was lost (two slices per sweep).
PLAN_SCAN_IDS = 20000
PLAN_CURSOR = "plan-unplanned"
# Retry back-off cap: half the Redis visibility timeout (3,600 s), so a countdown task is never
# redelivered as "lost" while it is still waiting (tests/test_schedule.py checks the bound).
MAX_BACKOFF_SECONDS = 1800
# Accepted messages not yet recorded as sent, at most: the duplicate window (a worker killed after
# a 250 resends at most this many after the lease). It stays at one (SentMarks).
MARK_SENT_GROUP = 1
# After the SMTP server accepted a message, how long we keep trying to record it as sent while
# the database is unreachable (below the send tasks' soft time limits).
MARK_SENT_PATIENCE = 45
# Errors that mean "the database is not there right now", not "this row is wrong".
DATABASE_GONE = (OperationalError, InterfaceError)


def redispatch_after() -> timedelta:
    """A pending message whose send task was queued this long ago and never ran is queued again."""
    return timedelta(seconds=settings.FOLLOWUP_REDISPATCH_SECONDS)


@dataclass
class SweepReport:
    now: datetime
    reclaimed: int = 0
    planned: int = 0
    opened: int = 0
    closed: int = 0
    bone_health: int = 0
    dispatched: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "reclaimed": self.reclaimed,
            "planned": self.planned,
            "opened": self.opened,
            "closed": self.closed,
            "bone_health": self.bone_health,
            "dispatched": len(self.dispatched),
        }


def followup_sweep(*, now: datetime | None = None, queue=None) -> SweepReport:
    """One pass: reclaim dead sends, plan what was never planned, open windows, close windows,
    bone health, queue due sends.

    ``queue(message_id)`` sends the doorbell (default: ``send_messages_task`` in batches).
    """
    now = now or clock.now()
    report = SweepReport(now=now)
    report.reclaimed = reclaim_stale_sends(now=now)
    report.planned = plan_unplanned_procedures(now=now)
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
        status=MessageStatus.PENDING, dispatched_at=None, claimed_by="", last_error="Send interrupted; sent again."
    )


# --- Planning that was lost ----------------------------------------------------------------------


def plan_unplanned_procedures(*, now: datetime) -> int:
    """Plan procedures of consented, living patients that have no events although a window is
    still open: their planning task was lost (broker wiped) or failed for good.

    Set-based and bounded: one ``NOT EXISTS`` query per slice of at most ``PLAN_SCAN_IDS``
    procedure ids, two slices per sweep, whatever N is. The newest slice every sweep (a lost task
    is recovered within a minute or two), and a slice that walks all procedures from a cursor
    (``SweepCursor`` "plan-unplanned") and wraps around, so that every procedure is looked at
    again within ``max(id) / PLAN_SCAN_IDS`` sweeps and nothing is starved. At most
    ``PLAN_PER_SWEEP`` are planned per sweep; the cursor stops after the last one planned, so the
    rest of a slice comes next.

    Only procedures recorded more than ``FOLLOWUP_PLAN_GRACE_SECONDS`` ago (their own task had its
    chance) and whose latest window has not closed. Planned like an import (closed windows get no
    event), so a procedure all of whose windows closed is never picked again.

    Four queries when nothing is unplanned, whatever N is: the walk's position with the newest id
    and the latest closing day, the conditional update that claims the walk's next slice, and the
    two slices. Two sweeps at once read the same position and only one moves it (``update()`` of
    one row, counted); the other looks at the newest slice only. A sweep that has more to plan than
    ``PLAN_PER_SWEEP`` puts the cursor back after the last one it planned, unless another sweep
    moved it meanwhile (that slice's rest then comes on the next lap; planning is idempotent and
    locks the patient, so a slice walked twice plans nothing twice).
    """
    walk = _plan_walk()
    if walk is None:
        SweepCursor.objects.get_or_create(name=PLAN_CURSOR)  # the first walk ever
        walk = _plan_walk()
    newest, latest_close, start = walk["newest"], walk["latest_close"], walk["position"]
    if newest is None or latest_close is None:
        return 0
    end = start + PLAN_SCAN_IDS
    moved_to = 0 if end >= newest else end
    walking = (
        SweepCursor.objects.filter(name=PLAN_CURSOR, position=start, updated_at=walk["updated_at"]).update(
            position=moved_to, updated_at=now
        )
        == 1
    )
    today = clock.local_date(now, settings.TIME_ZONE)
    unplanned = (
        Procedure.objects.filter(
            performed_on__gte=today - timedelta(days=latest_close + 1),
            created_at__lte=now - timedelta(seconds=settings.FOLLOWUP_PLAN_GRACE_SECONDS),
            patient__consent_status=ConsentStatus.CONSENTED,
            patient__deceased_on__isnull=True,
        )
        .filter(~Exists(FollowUpEvent.objects.filter(procedure_id=OuterRef("pk"))))
        .order_by("id")
        .values_list("id", flat=True)
    )
    # Two primary-key range scans, not one with OR: each stays an index range at any N.
    procedure_ids = list(unplanned.filter(id__gt=newest - PLAN_SCAN_IDS)[:PLAN_PER_SWEEP])
    room = PLAN_PER_SWEEP - len(procedure_ids)
    if walking:
        walked = []
        if room > 0:
            walked = list(unplanned.filter(id__gt=start, id__lte=end).exclude(id__in=procedure_ids)[:room])
            procedure_ids += walked
        if len(walked) == room:
            # More to plan than one sweep plans: the next sweep carries on after the last one planned.
            stop = walked[-1] if walked else start
            SweepCursor.objects.filter(name=PLAN_CURSOR, position=moved_to, updated_at=now).update(
                position=0 if stop >= newest else stop
            )
    planned = 0
    for procedure_id in procedure_ids:
        try:
            if services.followup_schedule_procedure(procedure_id=procedure_id, now=now, skip_closed_windows=True):
                planned += 1
        except DATABASE_GONE:
            raise
        except Exception:
            # One procedure that cannot be planned (a bug, a site without protocol) must not stop
            # the sweep from opening and closing everyone else's windows; it is tried again later.
            logger.exception("followup: planning procedure %s failed in the sweep", procedure_id)
    if planned:
        logger.warning("followup: planned %s procedure(s) whose planning had been lost", planned)
    return planned


def _plan_walk() -> dict | None:
    """The walk's cursor (position, when it moved), the newest procedure id and the latest day a
    window closes, in one query; None before the first walk."""
    return (
        SweepCursor.objects.filter(name=PLAN_CURSOR)
        .values("position", "updated_at")
        .annotate(
            newest=Subquery(Procedure.objects.order_by("-id").values("id")[:1]),
            latest_close=Subquery(ProtocolEvent.objects.order_by("-window_end_day").values("window_end_day")[:1]),
        )
        .first()
    )


# --- Opening windows -----------------------------------------------------------------------------


def open_due_windows(*, now: datetime, days: dict) -> int:
    """Open due windows in batches of ``OPEN_BATCH`` (set-based, ``lifecycle.open_events``)."""
    opened = 0
    for today, site_ids in days.items():
        # Only (status, invite_on) in the condition: a range scan over what is due, whatever N is.
        candidates = FollowUpEvent.objects.filter(
            status=EventStatus.SCHEDULED, invite_on__lte=today, site_id__in=site_ids
        ).order_by("invite_on", "id")
        event_ids = list(candidates.values_list("id", flat=True)[:OPEN_PER_SWEEP])
        for start in range(0, len(event_ids), OPEN_BATCH):
            with transaction.atomic():
                opened += lifecycle.open_events(event_ids=event_ids[start : start + OPEN_BATCH], now=now).opened
    return opened


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
                with transaction.atomic():
                    closed += lifecycle.miss_event(event_id=event_id, now=now)
    return closed


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
    lifecycle.open_worklist_item(
        kind=WorklistKind.BONE_HEALTH, patient=patient, due_on=action.due_on, bone_health_action=action
    )
    return True


# --- Dispatch ------------------------------------------------------------------------------------


def dispatch_due_messages(*, now: datetime, queue=None) -> list[int]:
    """Mark due messages as rung and queue their sending, after the marks are committed.

    By default the ids go out in batches of ``queueing.SEND_BATCH`` per task; ``queue`` (tests)
    takes one id at a time. Each message is still claimed on its own in ``message_send``, so a
    batch that runs twice, or dies half-way, sends nothing twice and loses nothing.
    """
    due = OutboundMessage.objects.filter(
        Q(dispatched_at__isnull=True) | Q(dispatched_at__lte=now - redispatch_after()),
        status=MessageStatus.PENDING,
        due_at__lte=now,
    )
    # Most sweeps find nothing due: one plain probe then, not a transaction around a locked read.
    if not due.exists():
        return []
    with transaction.atomic():
        ids = list(
            due.select_for_update(skip_locked=True)
            .order_by("due_at", "id")
            .values_list("id", flat=True)[:DISPATCH_PER_SWEEP]
        )
        OutboundMessage.objects.filter(id__in=ids).update(dispatched_at=now)
    # If the broker is down the rows stay pending and are rung again after the redispatch interval.
    if queue is None:
        queueing.send_messages_on_commit(ids)
    else:
        for message_id in ids:
            queue(message_id)
    return ids


# --- Sending one message -------------------------------------------------------------------------


@dataclass
class SendOutcome:
    status: str
    retry_in: int | None = None


def is_temporary(exc: BaseException) -> bool:
    """4xx replies, refused or dropped connections and timeouts are worth another try; 5xx are not."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(400 <= code < 500 for code in codes)
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    # OSError covers refused and reset connections, timeouts and smtplib's other errors.
    return isinstance(exc, OSError | mailer.TemporarySendError)


def is_permanent(exc: BaseException) -> bool:
    """The server refused the address or the message for good (5xx)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return any(500 <= code < 600 for code, _ in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPResponseException) and 500 <= exc.smtp_code < 600


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        detail = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        return f"{type(exc).__name__} {exc.smtp_code}: {detail}"[:500]
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return f"{type(exc).__name__}: {sorted({code for code, _ in exc.recipients.values()})}"
    return f"{type(exc).__name__}: {exc}"[:500]


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


def message_send(*, message_id: int, now: datetime | None = None, owner: str = "") -> SendOutcome:
    return messages_send(message_ids=[message_id], now=now, owner=owner)[message_id]


class DispatchInterrupted(Exception):
    """The database went away mid-batch. ``accepted``: messages the SMTP server accepted whose
    ``sent`` could not be recorded (the retry records them and never sends them again);
    ``unsent``: claims not handed to the server (given back to ``pending``, or, if even that
    failed, left ``sending`` under the task's ``owner`` so that its retry takes them again)."""

    def __init__(self, *, accepted: list[int], unsent: list[int]):
        super().__init__(f"database unreachable; {len(accepted)} accepted unrecorded, {len(unsent)} unsent")
        self.accepted, self.unsent = accepted, unsent


def _claim(*, message_ids: list[int], now: datetime, owner: str) -> list[int]:
    """The rows still pending (and, for a retried task, the rows it claimed itself and could not
    give back) become ``sending``; rows another worker holds or has sent are skipped. Runs inside
    the caller's transaction: the rows are locked (skipping locked ones) then updated in one
    statement, on PostgreSQL and on SQLite (the demo) alike."""
    claimable = Q(status=MessageStatus.PENDING)
    if owner:
        claimable |= Q(status=MessageStatus.SENDING, claimed_by=owner)
    ids = list(
        OutboundMessage.objects.select_for_update(skip_locked=True)
        .filter(claimable, pk__in=message_ids)
        .values_list("pk", flat=True)
    )
    OutboundMessage.objects.filter(pk__in=ids).update(
        status=MessageStatus.SENDING,
        claimed_at=now,
        claimed_by=owner,
        attempts=Case(
            When(status=MessageStatus.PENDING, then=F("attempts") + 1),
            default=F("attempts"),
            output_field=PositiveSmallIntegerField(),
        ),
    )
    return ids


def messages_send(
    *, message_ids: list[int], now: datetime | None = None, owner: str = "", accepted: list[int] | None = None
) -> dict[int, SendOutcome]:
    """Claim, check and send a batch of messages on one SMTP connection.

    One transaction claims the batch (one ``UPDATE ... RETURNING``) and loads everything the checks
    and the emails read (one ``SELECT``); then each message is handed to the SMTP server and each
    accepted one is recorded as sent by one ``UPDATE`` (``SentMarks``) before the next can be
    accepted. A worker killed half-way leaves the rest ``sending``; the sweep reclaims them after
    the lease.

    ``owner`` (the send task's id, the same for its retries) marks the claims, so that a retry takes
    back what it claimed when the database went away before the claims could be given back.
    ``accepted`` (a retry's argument) are messages the SMTP server accepted while the database was
    away: they are recorded as sent first, and never sent again. If the database goes away during
    the batch, ``DispatchInterrupted`` says what was accepted and what was not.
    """
    now = now or clock.now()
    accepted = list(accepted or [])
    outcomes = {pk: SendOutcome("not_claimed") for pk in message_ids}
    if accepted:
        _until_database_answers(lambda: _mark_sent(accepted, now))
        outcomes.update({pk: SendOutcome("sent") for pk in accepted})
    with transaction.atomic():
        claimed = _claim(message_ids=[pk for pk in message_ids if pk not in accepted], now=now, owner=owner)
        # Everything the checks and the templates read, in one query: the loop below only writes.
        messages = list(
            OutboundMessage.objects.select_related(
                "site", "patient", "invitation__event", "bone_health_action", "response"
            ).filter(pk__in=claimed)
        )
    order = {pk: n for n, pk in enumerate(message_ids)}
    messages.sort(key=lambda m: order[m.pk])
    marks = SentMarks(now=now)
    try:
        for index, message in enumerate(messages):
            try:
                outcomes[message.pk] = _send_claimed(message, now, before_accept=marks.wait)
            except (*DATABASE_GONE, SentNotRecorded) as exc:
                # Not accepted by the SMTP server: give these back so the retried task (or the sweep) sends them.
                unsent = _give_back([m.pk for m in messages[index:]])
                raise DispatchInterrupted(accepted=marks.unrecorded(), unsent=unsent) from exc
            if outcomes[message.pk].status == "sent":
                marks.record(message)
        not_recorded = marks.unrecorded()
        if not_recorded:
            raise DispatchInterrupted(accepted=not_recorded, unsent=[])
    finally:
        marks.close()
    return outcomes


class SentNotRecorded(Exception):
    """The previous accepted message could not be recorded as sent: the next is not accepted."""


# Each sending thread's marking thread (its own database connection); see SentMarks.
_marking = threading.local()


def _marking_thread() -> ThreadPoolExecutor:
    executor = getattr(_marking, "executor", None)
    if executor is None:
        executor = _marking.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="followup-mark")
    return executor


class SentMarks:
    """The ``UPDATE ... sent`` of each accepted message, at most ``MARK_SENT_GROUP`` (one) unrecorded.

    ``record(message)`` starts the message's own ``UPDATE`` (autocommitted: one round trip and its
    commit); ``wait()`` returns once it committed and is called before the next message can be
    accepted (``mailer.send``'s ``before_accept``, just before the final ``.``), so a worker killed
    at any moment leaves at most one accepted message unrecorded, as when the ``UPDATE`` ran
    before the next message was built. On PostgreSQL, outside a caller's transaction, the
    ``UPDATE`` runs on the sending thread's marking thread (its own connection), so its commit
    overlaps the next message's email building and SMTP exchange instead of adding to it
    (BENCHMARKS.md, "Follow-up engine"). On SQLite (the demo, one writer) or inside a caller's
    transaction (whose rows another connection cannot see) it runs at once, on this thread.
    """

    def __init__(self, *, now: datetime):
        self.now = now
        self.overlap = connection.vendor == "postgresql" and not connection.in_atomic_block
        self.in_flight: tuple[Future, int] | None = None
        self.not_recorded: list[int] = []

    def record(self, message: OutboundMessage) -> None:
        self.wait()
        if self.overlap:
            self.in_flight = (_marking_thread().submit(_record_sent, message, self.now), message.pk)
        else:
            self.not_recorded = _record_sent(message, self.now)

    def wait(self) -> None:
        """Return once every accepted message is recorded; ``SentNotRecorded`` if one could not be."""
        if self.unrecorded():
            raise SentNotRecorded

    def unrecorded(self) -> list[int]:
        """Accepted messages whose ``sent`` could not be recorded (after waiting for the one in flight)."""
        if self.in_flight is not None:
            (future, message_id), self.in_flight = self.in_flight, None
            try:
                self.not_recorded = future.result()
            except Exception:
                # Not a database outage (a bug): the batch stops here and its retry records it.
                logger.exception("followup: recording message #%s as sent failed", message_id)
                self.not_recorded = [message_id]
        return self.not_recorded

    def close(self) -> None:
        """Wait for the mark in flight; the marking connection then follows ``CONN_MAX_AGE`` (as the
        task's own does after each task)."""
        if self.overlap:
            with contextlib.suppress(Exception):
                self.unrecorded()
            _marking_thread().submit(close_old_connections).result()


def _record_sent(message: OutboundMessage, now: datetime) -> list[int]:
    """Mark an accepted message sent (one autocommitted ``UPDATE``), retried while the database is
    away; returns its id if it could not be recorded (the retried task records it, never sends it
    again)."""
    try:
        _until_database_answers(lambda: _mark_one_sent(message, now))
    except DATABASE_GONE:
        return [message.pk]
    logger.info("followup: sent %s #%s", message.kind, message.pk)
    return []


# One statement per accepted message, in plain SQL that PostgreSQL and SQLite (the demo) both run:
# the ORM's update() spent about 0.6 ms of Python per message building and compiling it.
MARK_SENT_SQL = (
    f"UPDATE {OutboundMessage._meta.db_table} SET status = %s, sent_at = %s, last_error = '', to_address = %s "  # noqa: S608 - our table
    "WHERE id = %s AND status = %s"
)


def _mark_one_sent(message: OutboundMessage, now: datetime) -> None:
    # The row keeps the address it was sent to (the patient's address at sending time).
    with connection.cursor() as cursor:
        cursor.execute(
            MARK_SENT_SQL,
            [
                MessageStatus.SENT.value,
                connection.ops.adapt_datetimefield_value(now),
                message.to_address,
                message.pk,
                MessageStatus.SENDING.value,
            ],
        )


def _give_back(ids: list[int]) -> list[int]:
    """Release claims not handed to the SMTP server; if the database does not answer, they stay
    ``sending`` under the owner and its retry takes them back."""
    if ids:
        with contextlib.suppress(*DATABASE_GONE):
            _until_database_answers(lambda: _release_claims(ids))
    return ids


def _release_claims(ids: list[int]) -> None:
    OutboundMessage.objects.filter(pk__in=ids, status=MessageStatus.SENDING).update(
        status=MessageStatus.PENDING, attempts=F("attempts") - 1, dispatched_at=None, claimed_by=""
    )


def _mark_sent(ids: list[int], now: datetime) -> None:
    OutboundMessage.objects.filter(pk__in=ids, status=MessageStatus.SENDING).update(
        status=MessageStatus.SENT, sent_at=now, last_error=""
    )


def _until_database_answers(write, patience: float = MARK_SENT_PATIENCE) -> None:
    """Run ``write`` (one autocommitted statement), retrying while the database is unreachable.

    A restarted server or a terminated backend leaves Django's connection broken: it is closed so
    that the next try opens a new one. After ``patience`` seconds the error is raised.
    """
    deadline = time.monotonic() + patience
    pause = 0.1
    while True:
        try:
            write()
            return
        except DATABASE_GONE:
            if time.monotonic() >= deadline:
                raise
            with contextlib.suppress(Exception):
                connection.close()
            time.sleep(pause)
            pause = min(pause * 2, 2.0)


def _send_claimed(message: OutboundMessage, now: datetime, *, before_accept) -> SendOutcome:
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
        mailer.send(email, before_accept=before_accept)
    except (*DATABASE_GONE, SentNotRecorded):
        raise
    except Exception as exc:
        return _send_failed(message, exc, now)
    # Accepted (250): the caller records it sent before the next one can be accepted.
    return SendOutcome("sent")


def retry_delay(*, attempts: int) -> int:
    """Seconds before attempt ``attempts + 1``: base × 2^(n-1), capped below the visibility timeout."""
    return min(settings.FOLLOWUP_SEND_RETRY_SECONDS * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS)


def _send_failed(message: OutboundMessage, exc: BaseException, now: datetime) -> SendOutcome:
    error = _describe(exc)
    attempts = message.attempts
    if is_temporary(exc) and attempts < settings.FOLLOWUP_SEND_MAX_ATTEMPTS:
        due_at = now + timedelta(seconds=retry_delay(attempts=attempts))
        if message.kind != MessageKind.RED_FLAG_ALERT:
            # Retries keep the site's sending calendar too: no invitation at 21:30 or on a holiday.
            due_at = lifecycle.calendar_for(message.site).next_send_time(due_at)
        countdown = int((due_at - now).total_seconds())
        # A retry within the back-off cap rings its own task; a later one (night, weekend) is
        # rung by the sweep when it falls due, so no countdown outlives the visibility timeout.
        ring = countdown <= MAX_BACKOFF_SECONDS
        _until_database_answers(
            lambda: OutboundMessage.objects.filter(pk=message.pk, status=MessageStatus.SENDING).update(
                status=MessageStatus.PENDING,
                due_at=due_at,
                dispatched_at=due_at if ring else None,
                last_error=error,
            )
        )
        logger.warning("followup: temporary failure for message #%s (attempt %s): %s", message.pk, attempts, error)
        return SendOutcome("retry", retry_in=countdown if ring else None)
    with transaction.atomic():
        OutboundMessage.objects.filter(pk=message.pk, status=MessageStatus.SENDING).update(
            status=MessageStatus.FAILED, last_error=error
        )
        if is_permanent(exc):
            lifecycle.address_failed_permanently(message=message, now=now)
        else:
            lifecycle.failed_message_to_worklist(message=message, now=now)
    logger.error("followup: message #%s failed after %s attempt(s): %s", message.pk, attempts, error)
    return SendOutcome("failed")
