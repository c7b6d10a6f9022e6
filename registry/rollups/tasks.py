"""Thin task adapter (STYLE.md item 4): the stale markers are the work, beat only rings."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from registry.rollups.services import rollups_refresh


@shared_task(
    time_limit=600,
    soft_time_limit=540,
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=30,
    retry_backoff_max=300,
    max_retries=3,
)
def rollups_refresh_task() -> int:
    """Refresh every stale partition; returns how many. Safe twice and at once (claimed markers)."""
    return rollups_refresh()
