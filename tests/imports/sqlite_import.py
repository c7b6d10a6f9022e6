"""Run by test_sqlite.py in a child process on a fresh SQLite database (the README's demo set-up).

Migrates, creates a site, its coordinator and a cement product, previews and commits a small
legacy series in CSV and in Excel, plans its follow-up, imports it again, and prints the counts
as JSON for the test to check.
"""

import json
import sys

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from registry.followup.models import FollowUpEvent  # noqa: E402
from registry.imports import sample  # noqa: E402
from registry.imports.services import import_commit, import_file, import_followup_plan, import_preview  # noqa: E402
from registry.procedures.models import CementProduct, TreatedLevel  # noqa: E402
from tests.factories import Role, SiteFactory, UserFactory, member  # noqa: E402

GTIN = "05012345678900"

call_command("migrate", verbosity=0)
site = SiteFactory(code="TOL", time_zone="Europe/Madrid")
coordinator = member(UserFactory(username="coord_a"), site, Role.COORDINATOR)
CementProduct.objects.create(manufacturer="Acme Spine", brand="VertaFix HV", gtin=GTIN)
rows = sample.legacy_rows(40, product=GTIN, today=timezone.localdate())

batch, preview = import_preview(site=site, acting_user=coordinator, name="s.xlsx", data=sample.to_xlsx(rows[:20]))
first = import_commit(batch=batch, acting_user=coordinator)
second = import_file(site=site, acting_user=coordinator, name="s.csv", data=sample.to_csv(rows))
left = import_followup_plan(batch_id=second.batch.pk) + import_followup_plan(batch_id=first.batch.pk)
again = import_file(site=site, acting_user=coordinator, name="s.csv", data=sample.to_csv(rows))
json.dump(
    {
        "vendor": connection.vendor,
        "preview_ok": preview.ok,
        "first_levels_new": first.counts["levels_new"],
        "second_levels_new": second.counts["levels_new"],
        "again_levels_new": again.counts["levels_new"],
        "again_levels_unchanged": again.counts["levels_unchanged"],
        "levels": TreatedLevel.objects.count(),
        "level_history": TreatedLevel.history.filter(history_type="+", history_user=coordinator).count(),
        "followup_left": left,
        "followup_events": FollowUpEvent.objects.count(),
        "followup_planned": first.counts["followup_to_plan"] + second.counts["followup_to_plan"],
    },
    sys.stdout,
)
