"""Staff email: alerts to a site's people by role and choice, and one daily digest per address.

- **Alerts** (a red flag at once, a patient who stopped emails at the next sending time) go to the
  site's mailboxes (``Site.contact_email``, ``clinician_email``) and to each user of the site who
  wants that kind (``StaffMailPreference``, else the defaults of their role in
  ``registry.access.STAFF_MAIL_DEFAULT_ROLES``), each in their own language. One email per
  address: a user whose address is a site mailbox gets one copy, in their language.
- **The daily digest** replaces the weekly email per bone-health action per address: once a day
  per address, one email listing every open worklist item of the sites behind that address
  (bone-health actions, calls, failed emails, notices). It is planned from ``DIGEST_FROM`` local
  time of the address's first site and sent by the sweep at that site's next sending time; its
  ``dedupe_key`` holds the address and the date, so a second planning run adds nothing.

Rows are ``OutboundMessage`` like every email, so they share claiming, retries and the lease.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.db.models import Count
from django.http import Http404
from django.urls import reverse

from registry import access
from registry.followup import clock
from registry.followup.models import (
    MessageKind,
    OutboundMessage,
    StaffMailKind,
    StaffMailPreference,
    WorklistItem,
    WorklistStatus,
)
from registry.patients.models import Language, Site

# The day's digest is planned from this local time on; it goes out at the next sending time.
DIGEST_FROM = time(7, 0)
# An address responsible for thousands of open items gets the first ones and the count of the rest.
DIGEST_MAX_LINES = 200

PREFERENCE_FOR = {
    MessageKind.RED_FLAG_ALERT: StaffMailKind.RED_FLAG_ALERT,
    MessageKind.OPT_OUT_NOTICE: StaffMailKind.OPT_OUT_NOTICE,
    MessageKind.STAFF_DIGEST: StaffMailKind.DAILY_DIGEST,
}


@dataclass
class Recipient:
    key: str  # the dedupe-key suffix: "coordinator" / "clinician" for a mailbox, "u<id>" for a user
    address: str
    language: str
    site_ids: set[int] = field(default_factory=set)


def _preference(user) -> StaffMailPreference | None:
    try:
        return user.staff_mail
    except ObjectDoesNotExist:
        return None


def _wants(user, role: str, kind: str) -> bool:
    preference = _preference(user)
    if preference is not None:
        return preference.receives(kind)
    return role in access.STAFF_MAIL_DEFAULT_ROLES[kind]


def _language(user, site_language: str) -> str:
    """The user's own choice, else the language of the site's staff emails."""
    preference = _preference(user)
    return preference.language if preference is not None else site_language


def site_mailboxes(site: Site) -> list[tuple[str, str]]:
    pairs = [("coordinator", site.contact_email), ("clinician", site.clinician_email)]
    return [(key, address) for key, address in pairs if address]


def recipients(*, kind: str, sites) -> dict[str, Recipient]:
    """Every address that receives ``kind`` for any of ``sites``, keyed by the lower-cased address."""
    by_address: dict[str, Recipient] = {}
    site_language = {site.pk: site.staff_language for site in sites}
    for site in sites:
        for key, address in site_mailboxes(site):
            mailbox = Recipient(key, address, site.staff_language)
            by_address.setdefault(address.lower(), mailbox).site_ids.add(site.pk)
    members = access.staff_mail_members(site_ids=[site.pk for site in sites])
    for site_id, user, role in members:
        if not _wants(user, role, kind):
            continue
        language = _language(user, site_language[site_id])
        recipient = by_address.setdefault(user.email.lower(), Recipient(f"u{user.pk}", user.email, language))
        # A person who reads a site mailbox and chose a language: theirs, not the mailbox default.
        recipient.language = language if _preference(user) is not None else recipient.language
        recipient.site_ids.add(site_id)
    return by_address


# --- Alerts --------------------------------------------------------------------------------------


def staff_alerts_create(
    *, kind: str, site: Site, patient, dedupe_prefix: str, due_at: datetime, **sources
) -> list[int]:
    """One ``kind`` message per address of the site that receives it; a second call adds nothing."""
    ids = []
    for recipient in recipients(kind=PREFERENCE_FOR[kind], sites=[site]).values():
        message, _ = OutboundMessage.objects.get_or_create(
            dedupe_key=f"{dedupe_prefix}:{recipient.key}",
            defaults={
                "kind": kind,
                "site": site,
                "patient": patient,
                "to_address": recipient.address,
                "language": recipient.language,
                "due_at": due_at,
                **sources,
            },
        )
        ids.append(message.pk)
    return ids


def opt_out_notices_create(*, patient, now: datetime) -> list[int]:
    """Tell the site that a patient stopped emails (not urgent: at the site's next sending time)."""
    site = patient.site
    day = clock.local_date(now, site.time_zone)
    return staff_alerts_create(
        kind=MessageKind.OPT_OUT_NOTICE,
        site=site,
        patient=patient,
        dedupe_prefix=f"oo:{patient.pk}:{day.isoformat()}",
        due_at=clock.SendingCalendar.for_site(site).next_send_time(now),
    )


# --- The daily digest ----------------------------------------------------------------------------


def digest_key(address: str, day) -> str:
    # A hash, not the address: the key stays short and the address is not repeated in an index.
    digest = hashlib.sha256(address.lower().encode()).hexdigest()[:32]
    return f"dg:{day.isoformat()}:{digest}"


def staff_digests_plan(*, now: datetime | None = None) -> int:
    """Plan today's digest for every address with open items whose morning has come; new ones only.

    Safe at any hour and any number of times: the key (address, local date) exists once.
    """
    now = now or clock.now()
    sites = {site.pk: site for site in Site.objects.filter(active=True)}
    open_at = dict(
        WorklistItem.objects.filter(status=WorklistStatus.OPEN, site_id__in=sites)
        .order_by()
        .values_list("site_id")
        .annotate(n=Count("id"))
    )
    planned = []
    for recipient in recipients(kind=StaffMailKind.DAILY_DIGEST, sites=list(sites.values())).values():
        if not any(open_at.get(site_id) for site_id in recipient.site_ids):
            continue
        home = sites[min(recipient.site_ids)]
        local = now.astimezone(ZoneInfo(home.time_zone))
        due_at = clock.SendingCalendar.for_site(home).next_send_time(now)
        # Before the morning, or after the day's sending hours: that day's run (or tomorrow's) plans it.
        if local.time() < DIGEST_FROM or clock.local_date(due_at, home.time_zone) != local.date():
            continue
        planned.append(
            OutboundMessage(
                dedupe_key=digest_key(recipient.address, local.date()),
                kind=MessageKind.STAFF_DIGEST,
                site=home,
                to_address=recipient.address,
                language=recipient.language,
                due_at=due_at,
            )
        )
    existing = set(
        OutboundMessage.objects.filter(dedupe_key__in=[m.dedupe_key for m in planned]).values_list(
            "dedupe_key", flat=True
        )
    )
    new = [message for message in planned if message.dedupe_key not in existing]
    # A planner running at the same moment inserted the same keys: the unique key keeps one.
    OutboundMessage.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


def _digest_sites(message: OutboundMessage) -> list[Site]:
    """The sites behind the digest's address now (its own site if the address left them all)."""
    sites = list(Site.objects.filter(active=True))
    recipient = recipients(kind=StaffMailKind.DAILY_DIGEST, sites=sites).get(message.to_address.lower())
    site_ids = recipient.site_ids if recipient else {message.site_id}
    return [site for site in sites if site.pk in site_ids]


def digest_is_empty(message: OutboundMessage) -> bool:
    """Everything was done between planning and sending: the digest is cancelled, not sent empty."""
    sites = _digest_sites(message)
    return not WorklistItem.objects.filter(status=WorklistStatus.OPEN, site__in=sites).exists()


def digest_context(message: OutboundMessage) -> dict:
    """What the digest lists when it is sent: the open items of the address's sites right now."""
    sites = _digest_sites(message)
    items = (
        WorklistItem.objects.filter(status=WorklistStatus.OPEN, site__in=sites)
        .select_related("site", "patient", "event__protocol_event", "bone_health_action", "response", "message")
        .order_by("due_on", "site_id", "kind", "id")
    )
    total = items.count()
    counts = dict(items.order_by().values_list("kind").annotate(n=Count("id")))
    return {
        "items": list(items[:DIGEST_MAX_LINES]),
        "total": total,
        "more": max(0, total - DIGEST_MAX_LINES),
        "counts": counts,
        "site_names": [site.name for site in sites],
        "worklist_url": settings.SITE_URL + reverse("followup:worklist"),
    }


# --- The user's choice ---------------------------------------------------------------------------


@transaction.atomic
def staff_mail_preference_save(
    *, acting_user, language: str, red_flag_alert: bool, opt_out_notice: bool, daily_digest: bool
) -> StaffMailPreference:
    """A user sets their own staff mail; only users who may see a site's identified data have any."""
    if not access.can_see_identified(acting_user):
        raise Http404
    if language not in Language.values:
        raise ValueError(f"Unknown language {language!r}.")
    preference, _ = StaffMailPreference.objects.select_for_update().get_or_create(user=acting_user)
    preference.language = language
    preference.red_flag_alert, preference.opt_out_notice, preference.daily_digest = (
        red_flag_alert,
        opt_out_notice,
        daily_digest,
    )
    preference.save()
    return preference


def staff_mail_preference_for(user) -> StaffMailPreference:
    """The user's choice, or (unsaved) the defaults of their roles, for the settings page."""
    preference = _preference(user)
    if preference is not None:
        return preference
    members = access.staff_mail_members(site_ids=None, user=user)
    roles = {role for _site, _user, role in members}
    defaults = {kind: bool(roles & set(access.STAFF_MAIL_DEFAULT_ROLES[kind])) for kind in StaffMailKind.values}
    # Until they choose: the staff language of their first site, as their emails are written.
    first_site = Site.objects.filter(pk__in=[site_id for site_id, _user, _role in members]).order_by("pk").first()
    language = first_site.staff_language if first_site is not None else Language.ENGLISH
    return StaffMailPreference(user=user, language=language, **defaults)
