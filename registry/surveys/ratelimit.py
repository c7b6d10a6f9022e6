"""Per-address limits on guessing survey links, which can never lock a patient out of a real one.

Only links that match no invitation count and are limited, per client address
(``registry.core.network.client_address``, so that behind the TLS proxy every patient does not
share the proxy's address). A genuine link (usable, expired or used alike) is never refused because
of its address: it is limited per link instead, against a flood. Set ``CACHE_URL`` to a shared
cache (Redis) in production so that all web processes share the counts.
"""

from __future__ import annotations

from django.conf import settings
from django_ratelimit.core import get_usage

from registry.core.network import client_address

UNKNOWN_GROUP = "surveys:unknown"
LINK_GROUP = "surveys:link"


def _by_address(group, request) -> str:
    return client_address(request)


def unknown_link_is_limited(request) -> bool:
    """Count one unknown link from this address; True once the address is over the guessing limit."""
    usage = get_usage(
        request, group=UNKNOWN_GROUP, key=_by_address, rate=settings.SURVEY_UNKNOWN_LINK_RATE_LIMIT, increment=True
    )
    # None when the limiter is switched off (RATELIMIT_ENABLE = False).
    return usage is not None and usage["should_limit"]


def link_is_flooded(request, invitation) -> bool:
    """Count one request for a genuine link; True when the link itself is flooded (any address)."""
    usage = get_usage(
        request,
        group=LINK_GROUP,
        key=lambda group, request: str(invitation.pk),
        rate=settings.SURVEY_LINK_RATE_LIMIT,
        increment=True,
    )
    return usage is not None and usage["should_limit"]
