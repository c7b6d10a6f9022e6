"""Waiting for real processes: a sweep that ran on the test clock, and sends that settled."""

from __future__ import annotations

import datetime as dt

from registry.core.models import Heartbeat
from registry.followup.models import MessageStatus, OutboundMessage
from registry.followup.tasks import SWEEP_HEARTBEAT
from tests.utils import wait_for


def sweep_ran_at(instant: dt.datetime) -> bool:
    beat = Heartbeat.objects.filter(source=SWEEP_HEARTBEAT).first()
    return bool(beat and beat.beat_at >= instant)


def settled(instant: dt.datetime) -> bool:
    """Nothing due by ``instant`` is waiting or in flight."""
    return not OutboundMessage.objects.filter(
        status__in=[MessageStatus.PENDING, MessageStatus.SENDING], due_at__lte=instant
    ).exists()


def advance(clock_file, instant: dt.datetime, timeout: float = 60) -> None:
    """Move the clock, wait for a sweep that saw the new time, then for its sends to finish."""
    clock_file.set(instant)
    wait_for(lambda: sweep_ran_at(instant), timeout=timeout, message=f"a sweep at {instant}")
    wait_for(lambda: settled(instant), timeout=timeout, message=f"sends due by {instant}")
