"""The one beat schedule of the registry (STYLE.md item 5).

Every entry says when it runs and why; ``expires`` is never longer than the interval, so a beat
that was down does not queue a pile of stale runs. Every task here is safe to run twice.
"""

from celery.schedules import crontab

CELERY_BEAT_SCHEDULE = {
    # Proves end to end that beat, broker and worker are alive; the result is a heartbeat row.
    "heartbeat": {
        "task": "registry.core.tasks.heartbeat_task",
        "schedule": 300.0,
        "options": {"expires": 300},
    },
}

__all__ = ["CELERY_BEAT_SCHEDULE", "crontab"]
