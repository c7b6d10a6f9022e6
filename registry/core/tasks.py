from celery import shared_task
from django.db.models import F
from django.utils import timezone

from registry.core.models import Heartbeat


@shared_task(time_limit=30, soft_time_limit=20)
def heartbeat_task(source: str = "beat") -> int:
    """Touch one row: the health check and the worker tests read it back from the database."""
    beat, _ = Heartbeat.objects.get_or_create(source=source, defaults={"beat_at": timezone.now()})
    Heartbeat.objects.filter(pk=beat.pk).update(beat_at=timezone.now(), runs=F("runs") + 1)
    return beat.pk
