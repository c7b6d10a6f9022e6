"""The follow-up engine's clock: ``django.utils.timezone.now()``, which tests may control.

In-process tests patch ``django.utils.timezone.now`` or pass ``now=`` to the services. A worker
started by a test runs in another process, so under the test settings only (never in production)
it reads the instant from the file named by ``REGISTRY_TEST_CLOCK_FILE`` (one ISO 8601 line),
which the test rewrites to move time forward. Beat keeps real time: it only rings the doorbell.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

TEST_CLOCK_ENV = "REGISTRY_TEST_CLOCK_FILE"
SEND_FROM = time(9, 0)
SEND_UNTIL = time(19, 0)


def _test_clock() -> datetime | None:
    path = os.environ.get(TEST_CLOCK_ENV)
    if not path or settings.SETTINGS_MODULE != "registry.settings_test":
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read().strip()
    except FileNotFoundError:
        return None
    return datetime.fromisoformat(text) if text else None


def now() -> datetime:
    return _test_clock() or timezone.now()


def local_date(instant: datetime, tz_name: str) -> date:
    return instant.astimezone(ZoneInfo(tz_name)).date()


def next_send_time(instant: datetime, tz_name: str) -> datetime:
    """``instant`` if it falls between 09:00 and 19:00 in the site's zone, else the next 09:00."""
    zone = ZoneInfo(tz_name)
    local = instant.astimezone(zone)
    if SEND_FROM <= local.time() < SEND_UNTIL:
        return instant
    day = local.date() if local.time() < SEND_FROM else local.date() + timedelta(days=1)
    return datetime.combine(day, SEND_FROM, tzinfo=zone).astimezone(UTC)


def start_of_day(day: date, tz_name: str) -> datetime:
    """Midnight at the start of ``day`` in the site's zone, as an aware instant."""
    return datetime.combine(day, time(0, 0), tzinfo=ZoneInfo(tz_name))
