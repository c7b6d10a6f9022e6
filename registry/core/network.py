"""The client's address, read through the reverse proxies this deployment says it trusts.

``X-Forwarded-For`` is written by whoever sends the request, so it is believed only as far as
the settings say: with nothing configured (the default) the client is the socket's peer
(``REMOTE_ADDR``). Behind one TLS proxy (docker-compose.yml: Caddy) set
``TRUSTED_PROXY_COUNT=1``: each trusted proxy appends the address it received the request from,
so the client is the count-th entry from the right, and anything a client wrote to the left of
it is ignored. ``TRUSTED_PROXY_ADDRESSES`` (addresses or networks) instead skips entries from
the right while they are trusted proxies, and only peers on that list may set the header at all.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings

# A header longer than any sane chain is not read at all (hostile input is bounded).
MAX_FORWARDED_LENGTH = 1000


@lru_cache(maxsize=8)
def _networks(addresses: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(address.strip(), strict=False) for address in addresses if address.strip())


def _parse(address: str) -> str | None:
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return None


def _trusted(address: str | None, networks) -> bool:
    if address is None:
        return False
    parsed = ipaddress.ip_address(address)
    return any(parsed in network for network in networks)


def client_address(request) -> str:
    """The address rate limits and lockouts count against (never a value the client chose)."""
    peer = request.META.get("REMOTE_ADDR", "")
    count = settings.TRUSTED_PROXY_COUNT
    networks = _networks(tuple(settings.TRUSTED_PROXY_ADDRESSES))
    if not count and not networks:
        return peer
    if networks and not _trusted(_parse(peer), networks):
        return peer  # reached us without the proxy: its header is the client's own invention
    header = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not header or len(header) > MAX_FORWARDED_LENGTH:
        return peer
    hops = [_parse(hop) for hop in header.split(",")]
    if count:
        client = hops[-count] if len(hops) >= count else None
        return client or peer
    for hop in reversed(hops):
        if hop is None:
            return peer
        if not _trusted(hop, networks):
            return hop
    return hops[0] or peer
