"""Reads of the follow-up engine on a user's behalf, always site-scoped through registry.access."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, Q

from registry import access
from registry.followup import clock, lifecycle
from registry.followup.models import (
    EventStatus,
    FollowUpEvent,
    MessageKind,
    MessageStatus,
    OutboundMessage,
    WorklistItem,
    WorklistStatus,
)

WORKLIST_PAGE_SIZE = 50


def worklist_filtered(*, user, kind: str = "", site: int | None = None, when: str = "", assignee: str = ""):
    """Open items of the user's sites narrowed by the page's filters (see ``WorklistFilterForm``).

    ``when``: ``overdue`` (due before today) or ``today``; ``assignee``: ``me``, ``none`` or a
    user id. Returned without ``kind`` applied too, for the counts per kind beside the filter.
    """
    items = access.scope_to_sites(WorklistItem.objects.filter(status=WorklistStatus.OPEN), user)
    if site:
        items = items.filter(site_id=site)
    if when in ("overdue", "today"):
        items = items.filter(_due_relative_to_site_today(user, "lt" if when == "overdue" else "exact"))
    if assignee == "me":
        items = items.filter(assigned_to=user)
    elif assignee == "none":
        items = items.filter(assigned_to__isnull=True)
    elif assignee.isdigit():
        items = items.filter(assigned_to_id=int(assignee))
    all_kinds = items
    if kind:
        items = items.filter(kind=kind)
    return items, all_kinds


def _due_relative_to_site_today(user, lookup: str) -> Q:
    """``due_on`` compared with today at each site, in its own zone (Boston's day is not Madrid's)."""
    now = clock.now()
    sites_by_day: dict = defaultdict(list)
    for site_id, tz in access.sites_for_user(user).values_list("id", "time_zone"):
        sites_by_day[clock.local_date(now, tz)].append(site_id)
    condition = Q(pk__in=[])
    for day, site_ids in sites_by_day.items():
        condition |= Q(site_id__in=site_ids, **{f"due_on__{lookup}": day})
    return condition


def worklist_page(*, user, page: str | int | None = None, **filters):
    """One page of the filtered worklist and the count of each kind: a fixed number of queries."""
    items, all_kinds = worklist_filtered(user=user, **filters)
    items = items.select_related(
        "site", "patient", "event__protocol_event", "bone_health_action", "message", "response", "assigned_to"
    ).order_by("due_on", "id")
    counts = dict(all_kinds.order_by().values_list("kind").annotate(n=Count("id")))
    paginator = Paginator(items, WORKLIST_PAGE_SIZE)
    # The counts already hold the total: spare the paginator its own COUNT(*) over the same rows.
    paginator.count = counts.get(filters["kind"], 0) if filters.get("kind") else sum(counts.values())
    return paginator.get_page(page), counts


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
    """Dry run: what would go out in the next ``days`` days. Study ids only, no names or addresses.

    Bone-health actions send no email of their own: they are worklist items in the staff digest.
    """
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
    return sorted(rows, key=lambda row: row["when"])
