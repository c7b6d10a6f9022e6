from datetime import datetime

from django.core.management.base import BaseCommand, CommandError

from registry.followup.dispatch import followup_sweep


class Command(BaseCommand):
    help = "Run one follow-up sweep now (what beat does every minute); safe beside a running beat."

    def add_arguments(self, parser):
        parser.add_argument("--now", help="ISO instant to sweep as of (testing and catch-up), e.g. 2026-03-01T10:00Z")

    def handle(self, *args, now=None, **options):
        try:
            instant = datetime.fromisoformat(now) if now else None
        except ValueError as exc:
            raise CommandError(f"--now: {exc}") from None
        if instant is not None and instant.tzinfo is None:
            raise CommandError("--now needs a time zone, e.g. 2026-03-01T10:00+00:00")
        report = followup_sweep(now=instant).as_dict()
        self.stdout.write(", ".join(f"{key}: {value}" for key, value in report.items()))
