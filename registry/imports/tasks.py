"""Thin adapters: follow-up planning of an import's procedures (batches that re-queue themselves), purge."""

from celery import shared_task

from registry.imports.services import import_files_purge, import_followup_plan


@shared_task(acks_late=True, time_limit=600, soft_time_limit=540)
def plan_import_followup_task(batch_id: int) -> None:
    if import_followup_plan(batch_id=batch_id):
        plan_import_followup_task.delay(batch_id)


# Both limits explicit: the global soft limit (240 s) above a 60 s hard limit made beat's every
# run fail to apply ("soft_time_limit must be less than or equal to time_limit").
@shared_task(time_limit=60, soft_time_limit=50)
def resume_import_followup_task() -> None:
    from datetime import timedelta

    from django.utils import timezone

    from registry.imports.models import ImportBatch

    stale = timezone.now() - timedelta(minutes=5)
    for batch_id in (
        ImportBatch.objects.filter(committed_at__lt=stale, followup_planned_at__isnull=True)
        .exclude(followup_pending=[])
        .values_list("pk", flat=True)
    ):
        plan_import_followup_task.delay(batch_id)


@shared_task(time_limit=300)
def import_files_purge_task() -> None:
    import_files_purge()
