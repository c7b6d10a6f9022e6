from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from registry.followup.selectors import preview


class Command(BaseCommand):
    help = "Dry run: the emails and calls due in the next N days (study ids only; nothing is sent)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=7)

    def handle(self, *args, days, **options):
        if days < 0 or days > 400:
            raise CommandError("--days must be between 0 and 400.")
        rows = preview(days=days)
        for row in rows:
            when = timezone.localtime(row["when"]).strftime("%Y-%m-%d %H:%M")
            self.stdout.write(f"{when}  {row['site']:<6} {row['study_id']:<12} {row['what']:<28} {row['status']}")
        self.stdout.write(f"{len(rows)} item(s) in the next {days} day(s); nothing was sent.")
