"""Reads of the follow-up engine on a user's behalf, always site-scoped through registry.access."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Prefetch, QuerySet

from registry import access
from registry.followup import clock, dispatch, lifecycle
from registry.followup.models import (
    EventStatus,
    FollowUpEvent,
    MessageKind,
    MessageStatus,
    OutboundMessage,
    WorklistItem,
    WorklistStatus,
)
from registry.patients.models import BoneHealthAction, BoneHealthActionStatus


def worklist_for_user(*, user) -> QuerySet[WorklistItem]:
    """Open items of the user's sites, oldest due first, with everything the page shows."""
    items = WorklistItem.objects.filter(status=WorklistStatus.OPEN).select_related(
        "site",
        "patient",
        "event__protocol_event",
        "bone_health_action",
        "message",
        "response",
    )
    return access.scope_to_sites(items, user).order_by("due_on", "id")


def worklist_open_count(user) -> int:
    """The navigation badge: open items at the user's sites (items are only created once due)."""
    if not access.can_see_identified(user):
        return 0
    return access.scope_to_sites(WorklistItem.objects.filter(status=WorklistStatus.OPEN), user).count()


def worklist_item_get_for_user(*, user, item_id: int) -> WorklistItem:
    return access.get_scoped_or_404(
        WorklistItem.objects.select_related("patient", "site", "bone_health_action"), user, pk=item_id
    )


def patient_events(*, patient) -> list[FollowUpEvent]:
    """The patient's events, each with ``status_label`` (what happened, in words) and
    ``message_rows`` (every email: kind, state), from three queries whatever the number."""
    events = list(
        FollowUpEvent.objects.filter(patient=patient)
        .select_related("protocol_event", "procedure", "site", "invitation", "response")
        .prefetch_related(Prefetch("invitation__messages", queryset=OutboundMessage.objects.order_by("due_at", "id")))
        .order_by("window_opens_on", "id")
    )
    for event in events:
        invitation = getattr(event, "invitation", None)
        messages = list(invitation.messages.all()) if invitation is not None else []
        first = next((m for m in messages if m.kind == MessageKind.INVITATION), None)
        event.status_label = lifecycle.event_status_label(event, first)
        event.message_rows = [
            {
                "kind": m.get_kind_display(),
                "status": m.status,
                "state": lifecycle.message_state(m, event.site.time_zone),
            }
            for m in messages
        ]
    return events


def preview(*, days: int, now: datetime | None = None) -> list[dict]:
    """Dry run: what would go out in the next ``days`` days. Study ids only, no names or addresses."""
    now = now or clock.now()
    until = now + timedelta(days=days)
    rows = [
        {
            "when": message.due_at,
            "what": message.kind,
            "study_id": message.patient.study_id if message.patient else "",
            "site": message.site.code,
            "status": "queued" if message.dispatched_at else "planned",
        }
        for message in OutboundMessage.objects.filter(status=MessageStatus.PENDING, due_at__lt=until)
        .select_related("patient", "site")
        .order_by("due_at", "id")
    ]
    for event in (
        FollowUpEvent.objects.filter(
            status=EventStatus.SCHEDULED, invite_on__lte=until.date(), window_closes_on__gte=now.date()
        )
        .select_related("patient", "site", "protocol_event")
        .order_by("invite_on", "id")
    ):
        opens = max(now, clock.start_of_day(event.invite_on, event.site.time_zone))
        can_email = bool(event.patient.email) and event.patient.may_be_contacted
        times = lifecycle.message_times(
            event=event,
            now=opens,
            expires_at=lifecycle.invitation_expiry(event),
            calendar=lifecycle.calendar_for(event.site),
        )
        for n, when in enumerate(times if can_email else [opens]):
            if when >= until:
                continue
            kind = ("invitation" if n == 0 else "reminder") if can_email else "phone call (worklist)"
            rows.append(
                {
                    "when": when,
                    "what": f"{kind} ({event.event_code})",
                    "study_id": event.patient.study_id,
                    "site": event.site.code,
                    "status": "planned",
                }
            )
    for action in (
        BoneHealthAction.objects.filter(
            status=BoneHealthActionStatus.DUE, due_on__lt=until.date(), patient__deceased_on__isnull=True
        )
        .select_related("patient__site")
        .order_by("due_on", "id")
    ):
        site = action.patient.site
        when = clock.start_of_day(action.due_on, site.time_zone)
        if action.last_reminded_at:
            when = max(when, action.last_reminded_at + dispatch.BONE_HEALTH_EVERY)
        calendar = lifecycle.calendar_for(site)
        when = calendar.next_send_time(max(when, now))
        while when < until:
            row = {"what": "bone_health_reminder", "study_id": action.patient.study_id, "site": site.code}
            rows.append({"when": when, **row, "status": "planned"})
            when = calendar.next_send_time(when + dispatch.BONE_HEALTH_EVERY)
    return sorted(rows, key=lambda row: row["when"])
