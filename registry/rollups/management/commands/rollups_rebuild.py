"""Mark every partition stale and refresh them all: after a restore or a bulk load that ran with
triggers disabled (``session_replication_role = replica``, ``pg_restore --disable-triggers``),
which the stale markers cannot have seen."""

from django.core.management.base import BaseCommand

from registry.rollups.services import rollups_mark_all, rollups_refresh


class Command(BaseCommand):
    help = "Recompute every report rollup from the clinical tables."

    def handle(self, *args, **options):
        marked = rollups_mark_all()
        refreshed = rollups_refresh()
        self.stdout.write(f"{marked} partitions marked, {refreshed} refreshed")
