"""The beat schedule: every entry can really be queued with its own options, and no task's time
limit or retry back-off reaches the broker's visibility timeout (a task that outlived it would be
handed to a second worker)."""

import pytest
from django.conf import settings

from registry.celery import app
from registry.followup import dispatch, tasks
from registry.schedule import CELERY_BEAT_SCHEDULE

VISIBILITY_TIMEOUT = 3600  # settings.CELERY_BROKER_TRANSPORT_OPTIONS for Redis in production


@pytest.fixture
def empty_queue():
    app.control.purge()
    yield
    app.control.purge()


@pytest.mark.parametrize("name", sorted(CELERY_BEAT_SCHEDULE))
def test_every_beat_entry_can_be_applied_with_its_options(name, empty_queue):
    # Given the entry exactly as beat holds it
    entry = CELERY_BEAT_SCHEDULE[name]
    app.loader.import_default_modules()
    task = app.tasks[entry["task"]]

    # When beat applies it (to the real test broker)
    result = task.apply_async(args=entry.get("args", ()), kwargs=entry.get("kwargs", {}), **entry.get("options", {}))

    # Then it was queued, and it expires no later than its interval (STYLE.md item 5)
    assert result.id
    schedule = entry["schedule"]
    interval = schedule if isinstance(schedule, float | int) else None
    if interval is not None:
        assert entry["options"]["expires"] <= interval


def test_registry_task_limits_stay_below_the_visibility_timeout():
    app.loader.import_default_modules()
    ours = {name: task for name, task in app.tasks.items() if name.startswith(("registry.", "reports."))}
    assert "registry.followup.tasks.send_messages_task" in ours
    for name, task in ours.items():
        hard = task.time_limit or settings.CELERY_TASK_TIME_LIMIT
        soft = task.soft_time_limit or settings.CELERY_TASK_SOFT_TIME_LIMIT
        assert soft <= hard, name
        assert hard < VISIBILITY_TIMEOUT, name


def test_send_retry_back_off_stays_below_the_visibility_timeout(settings):
    settings.FOLLOWUP_SEND_RETRY_SECONDS = 60
    delays = [dispatch.retry_delay(attempts=n) for n in range(1, 12)]
    # 60, 120, 240, ... capped at 1,800 s: half the visibility timeout
    assert delays[:6] == [60, 120, 240, 480, 960, 1800]
    assert max(delays) == dispatch.MAX_BACKOFF_SECONDS == 1800 < VISIBILITY_TIMEOUT
    assert tasks.OUTAGE_RETRY["retry_backoff_max"] < VISIBILITY_TIMEOUT
    # The lease that reclaims a dead send outlives every send task's hard limit
    assert tasks.send_messages_task.time_limit < settings.FOLLOWUP_SEND_LEASE_SECONDS
    assert tasks.send_message_task.time_limit < settings.FOLLOWUP_SEND_LEASE_SECONDS
