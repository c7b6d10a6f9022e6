"""The follow-up engine's clock: ``django.utils.timezone.now()``, which tests may control.

In-process tests patch ``django.utils.timezone.now`` or pass ``now=`` to the services. A worker
started by a test runs in another process, so under the test settings only (never in production)
it reads the instant from the file named by ``REGISTRY_TEST_CLOCK_FILE`` (one ISO 8601 line),
which the test rewrites to move time forward. Beat keeps real time: it only rings the doorbell.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

TEST_CLOCK_ENV = "REGISTRY_TEST_CLOCK_FILE"
SEND_FROM = time(9, 0)
SEND_UNTIL = time(19, 0)
# A calendar with every day a holiday would loop for ever; a year and a bit is the bound.
MAX_DAYS_AHEAD = 400


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


@functools.lru_cache(maxsize=256)
def _holidays(country: str, subdivision: str, year: int):
    import holidays

    return holidays.country_holidays(country, subdiv=subdivision or None, years=year)


@dataclass(frozen=True)
class SendingCalendar:
    """When a site's non-urgent emails may go out: hours, weekdays and public holidays, local time."""

    time_zone: str
    send_from: time = SEND_FROM
    send_until: time = SEND_UNTIL
    weekdays: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    holiday_country: str = ""
    holiday_subdivision: str = ""

    @classmethod
    def for_site(cls, site) -> SendingCalendar:
        return cls(
            time_zone=site.time_zone,
            send_from=site.send_from,
            send_until=site.send_until,
            weekdays=frozenset(int(d) for d in site.send_weekdays),
            holiday_country=site.holiday_country,
            holiday_subdivision=site.holiday_subdivision,
        )

    def is_sending_day(self, day: date) -> bool:
        if day.isoweekday() not in self.weekdays:
            return False
        return not (self.holiday_country and day in _holidays(self.holiday_country, self.holiday_subdivision, day.year))

    def next_send_time(self, instant: datetime) -> datetime:
        """``instant`` if it is inside the sending hours of a sending day, else the next opening."""
        zone = ZoneInfo(self.time_zone)
        local = instant.astimezone(zone)
        day = local.date()
        if self.is_sending_day(day) and self.send_from <= local.time() < self.send_until:
            return instant
        if local.time() >= self.send_from:
            day += timedelta(days=1)
        for _ in range(MAX_DAYS_AHEAD):
            if self.is_sending_day(day):
                return datetime.combine(day, self.send_from, tzinfo=zone).astimezone(UTC)
            day += timedelta(days=1)
        raise ValueError("The site's sending calendar has no sending day in the next year.")


def start_of_day(day: date, tz_name: str) -> datetime:
    """Midnight at the start of ``day`` in the site's zone, as an aware instant."""
    return datetime.combine(day, time(0, 0), tzinfo=ZoneInfo(tz_name))
