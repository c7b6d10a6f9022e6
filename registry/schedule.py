"""The one beat schedule of the registry (STYLE.md item 5).

Every entry says when it runs and why; ``expires`` is never longer than the interval, so a beat
that was down does not queue a pile of stale runs. Every task here is safe to run twice.
"""

import os

from celery.schedules import crontab

# Tests run beat with a one-second sweep; production keeps the minute.
FOLLOWUP_SWEEP_SECONDS = float(os.environ.get("FOLLOWUP_SWEEP_SECONDS", "60"))

CELERY_BEAT_SCHEDULE = {
    # Proves end to end that beat, broker and worker are alive; the result is a heartbeat row.
    "heartbeat": {
        "task": "registry.core.tasks.heartbeat_task",
        "schedule": 300.0,
        "options": {"expires": 300},
    },
    # Follow-up engine: every minute open survey windows (invitations), queue due invitations,
    # reminders and bone-health reminders as one send task each, close unanswered windows as
    # missed, and take back sends a dead worker left half-done. Rows are claimed, so two sweeps
    # at once are harmless; a sweep that beat could not deliver in time is dropped (expires).
    "followup-sweep": {
        "task": "registry.followup.tasks.followup_sweep_task",
        "schedule": FOLLOWUP_SWEEP_SECONDS,
        "options": {"expires": FOLLOWUP_SWEEP_SECONDS},
    },
    # Staff mail: every hour, plan today's digest for each staff address whose morning (07:00 in
    # the zone of its first site) has come: one email listing every open worklist item of its sites,
    # sent by the sweep at that site's next sending time. The key (address, local date) exists
    # once, so the 23 other runs of the day, or two at once, add nothing.
    "followup-staff-digest": {
        "task": "registry.followup.tasks.staff_digests_plan_task",
        "schedule": 3600.0,
        "options": {"expires": 3600},
    },
    # The dashboards people open first (each site, the whole registry) are recomputed every
    # five minutes from one load of the data, before their cached copy (ten minutes) expires,
    # so opening the dashboard does not wait for seconds of aggregation. Safe to run twice.
    "reports-dashboard-snapshots": {
        "task": "reports.tasks.dashboard_snapshots_refresh_task",
        "schedule": 300.0,
        "options": {"expires": 300},
    },
    # Site monitoring: at 04:10 UTC each day, recompute every site's CUSUMs, store new signals
    # and email each one once (the signal row is unique and claimed before sending), so a
    # repeated or overlapping run alerts nobody twice. A run beat could not deliver within the
    # day is dropped; the next day's run finds the same signals.
    "reports-site-monitoring": {
        "task": "reports.tasks.site_monitoring_check_task",
        "schedule": crontab(minute=10, hour=4),
        "options": {"expires": 20 * 3600},
    },
    # Quarterly reports: every night at 03:30 UTC, build whichever report of the last ended
    # quarter is missing (every active site and the whole registry, plus the cumulative cohort),
    # then email each site's reviewers a link. On the first day of a quarter that is all of them;
    # on later nights it is whatever an interrupted run left unbuilt (the task also retries on
    # database errors). A report that exists is never rebuilt by beat, so repeated or
    # overlapping runs add nothing, and a night that does no work costs one query.
    # Report rollups (issue #14): every minute, recompute the site-months whose procedures or
    # answers changed (the triggers marked them stale on commit), so the dashboard and reports
    # combine small sums rather than every row. Markers are claimed, so two runs at once are
    # harmless; a report refreshes its own stale partitions anyway before reading.
    "rollups-refresh": {
        "task": "registry.rollups.tasks.rollups_refresh_task",
        "schedule": 60.0,
        "options": {"expires": 60},
    },
    "reports-quarterly-build": {
        "task": "reports.tasks.quarterly_reports_build_task",
        "schedule": crontab(minute=30, hour=3),
        "options": {"expires": 20 * 3600},
    },
    # Patient surveys: answers in progress (drafts) of links that expired or were answered are
    # deleted at 02:15 UTC each day; nobody can reopen them, and they should not linger. A delete
    # of what is already gone is harmless, so a repeated run does nothing more.
    "surveys-purge-drafts": {
        "task": "registry.surveys.tasks.survey_drafts_purge_task",
        "schedule": crontab(minute=15, hour=2),
        "options": {"expires": 20 * 3600},
    },
    # Legacy imports: every ten minutes, re-queue follow-up planning of committed imports whose
    # procedures are still listed as pending (a lost message or a dead worker). Planning is
    # idempotent and claims the import row, so a second copy does nothing.
    "imports-followup-resume": {
        "task": "registry.imports.tasks.resume_import_followup_task",
        "schedule": 600.0,
        "options": {"expires": 600},
    },
    # Legacy imports: at 02:45 UTC each day, delete the parsed rows (PHI) of previews never
    # committed within IMPORT_RETENTION_DAYS. Deleting what is gone does nothing, so a repeat is harmless.
    "imports-purge-files": {
        "task": "registry.imports.tasks.import_files_purge_task",
        "schedule": crontab(minute=45, hour=2),
        "options": {"expires": 20 * 3600},
    },
}

__all__ = ["CELERY_BEAT_SCHEDULE", "crontab"]
