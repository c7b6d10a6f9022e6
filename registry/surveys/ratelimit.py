"""Per-address limits on the survey endpoints, against guessing links (django-ratelimit on the cache).

Two counters per client address: every request (a flood), and every "link not available" answer
(guessing: a real patient sees that page once or twice). Unknown, expired and used links count
the same, so the limit itself tells nothing about which one a link was. Set ``CACHE_URL`` to a
shared cache (Redis) in production so that all web processes share the counts.
"""

from __future__ import annotations

from django.conf import settings
from django_ratelimit.core import get_usage

ANY_GROUP = "surveys:any"
CLOSED_GROUP = "surveys:closed"


def request_is_limited(request) -> bool:
    """Count this request; True if the address is over either limit."""
    closed = get_usage(request, group=CLOSED_GROUP, key="ip", rate=settings.SURVEY_CLOSED_RATE_LIMIT)
    # None when the limiter is switched off (RATELIMIT_ENABLE = False).
    if closed is not None and closed["count"] >= closed["limit"]:
        return True
    usage = get_usage(request, group=ANY_GROUP, key="ip", rate=settings.SURVEY_RATE_LIMIT, increment=True)
    return usage is not None and usage["should_limit"]


def count_closed_link(request) -> None:
    get_usage(request, group=CLOSED_GROUP, key="ip", rate=settings.SURVEY_CLOSED_RATE_LIMIT, increment=True)
