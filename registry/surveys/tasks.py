"""Thin task adapters around services.py: safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task

from registry.surveys import services

logger = logging.getLogger(__name__)


@shared_task(time_limit=300, soft_time_limit=240, acks_late=True)
def survey_drafts_purge_task() -> int:
    deleted = services.survey_drafts_purge()
    if deleted:
        logger.info("surveys: purged %s stale draft row(s)", deleted)
    return deleted
