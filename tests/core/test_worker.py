import pytest

from registry.core.models import Heartbeat
from registry.core.tasks import heartbeat_task
from tests.utils import wait_for

pytestmark = pytest.mark.worker


def test_task_queued_on_redis_runs_in_real_worker_and_writes_to_postgres(start_worker):
    # Given a real worker process on the Redis broker
    start_worker()

    # When a task is queued through the broker (not run eagerly)
    heartbeat_task.delay("worker-test")

    # Then its effect is visible in PostgreSQL, written by the other process
    beat = wait_for(lambda: Heartbeat.objects.filter(source="worker-test", runs__gte=1).first(), message="heartbeat")
    assert beat.runs == 1
