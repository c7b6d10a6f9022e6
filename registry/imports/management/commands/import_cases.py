"""Import a legacy case series from the command line: a preview unless --commit is given.

    manage.py import_cases --site TOL --user coordinator FILE [--commit]

The report goes to the terminal of the person running it (row, column, value, rule), never to
the log. Exit status 1 when the file has errors (nothing is written then).
"""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from registry.imports.reading import MAX_FILE_BYTES, UnreadableFile
from registry.imports.services import ImportRejected, import_file
from registry.patients.models import Site


class Command(BaseCommand):
    help = "Validate (and with --commit import, all or nothing) a CSV/XLSX legacy series for one site."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--site", required=True, help="Site code, e.g. TOL.")
        parser.add_argument("--user", required=True, help="The coordinator the import is recorded under.")
        parser.add_argument("--commit", action="store_true", help="Write; without it nothing is written.")

    def handle(self, *args, file: Path, site: str, user: str, commit: bool, **options):
        site_obj = Site.objects.filter(code=site.upper()).first()
        if site_obj is None:
            raise CommandError(f"No site with code {site!r}.")
        acting_user = get_user_model().objects.filter(username=user, is_active=True).first()
        if acting_user is None:
            raise CommandError(f"No active user {user!r}.")
        try:
            if file.stat().st_size > MAX_FILE_BYTES:
                raise CommandError(f"{file} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB: split it by year.")
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from None
        try:
            plan = import_file(site=site_obj, acting_user=acting_user, name=file.name, data=data, commit=commit)
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from None
        except UnreadableFile as exc:
            raise CommandError(str(exc)) from None
        except ImportRejected as exc:
            for error in exc.plan.errors:
                self.stdout.write(f"row {error.row}, column {error.column}, value {error.value!r}: {error.rule}")
            raise CommandError(
                f"Nothing imported: {len(exc.plan.errors)} error(s) in {len(exc.plan.error_rows)} row(s)."
            ) from None
        for note in plan.warnings:
            self.stdout.write(f"warning, row {note.row}: {note.message}")
        for note in plan.changes:
            self.stdout.write(f"differs from the registry, row {note.row} ({note.record}): {note.message}")
        summary = ", ".join(f"{key} {value}" for key, value in plan.summary().items())
        verb = "Imported" if commit else "Preview only (use --commit to import)"
        self.stdout.write(self.style.SUCCESS(f"{verb}: {summary}."))
