"""Scaling out: tasks on separate queues, reports' reads on a replica when one is configured."""

from __future__ import annotations

import pytest
from django.conf import settings

from registry.celery import app
from registry.db_router import REPLICA, ReplicaRouter, reading_replica
from registry.followup.models import FollowUpEvent


def queue_of(task_name: str) -> str:
    return app.amqp.router.route({}, task_name, (), {})["queue"].name


def project_tasks() -> list[str]:
    app.loader.import_default_modules()
    return sorted(name for name in app.tasks if name.startswith(("registry.", "reports.")))


def test_every_task_goes_to_a_queue_the_workers_consume():
    names = project_tasks()
    assert names
    for name in names:
        assert queue_of(name) in settings.CELERY_QUEUE_NAMES, name


def test_report_builds_never_share_the_queue_of_invitations():
    assert queue_of("registry.followup.tasks.send_messages_task") == "send"
    assert queue_of("registry.followup.tasks.followup_sweep_task") == "send"
    assert queue_of("reports.tasks.quarterly_reports_build_task") == "reports"
    assert queue_of("registry.followup.tasks.followup_schedule_procedure_task") == "plan"
    send_tasks = {name for name in project_tasks() if queue_of(name) == "send"}
    assert not {name for name in send_tasks if name.startswith("reports.")}


def test_without_a_replica_everything_reads_from_the_primary():
    router = ReplicaRouter()
    with reading_replica():
        assert router.db_for_read(FollowUpEvent) is None


def test_reports_read_from_the_replica_when_one_is_configured(monkeypatch):
    monkeypatch.setitem(settings.DATABASES, REPLICA, dict(settings.DATABASES["default"]))
    router = ReplicaRouter()
    assert router.db_for_read(FollowUpEvent) is None
    with reading_replica():
        assert router.db_for_read(FollowUpEvent) == REPLICA
        # Writes (and so locking reads inside a write) stay on the primary.
        assert router.db_for_write(FollowUpEvent) is None
    assert router.db_for_read(FollowUpEvent) is None
    assert router.allow_migrate(REPLICA, "followup") is False
    assert router.allow_migrate("default", "followup") is True


@pytest.mark.parametrize("url", ["postgres://reader@replica.internal:5432/registry"])
def test_replica_url_configures_a_test_mirror(url, tmp_path):
    import subprocess
    import sys

    code = (
        "import os, django; os.environ['DJANGO_SETTINGS_MODULE']='registry.settings';"
        "django.setup(); from django.conf import settings as s;"
        "r=s.DATABASES['replica']; print(r['HOST'], r['USER'], r['TEST'])"
    )
    env = {
        "DATABASE_REPLICA_URL": url,
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/registry",
        "REGISTRY_VAR_DIR": str(tmp_path),
        "PATH": "/usr/bin:/bin",
    }
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split()[:2] == ["replica.internal", "reader"]
    assert "'MIRROR': 'default'" in out.stdout
