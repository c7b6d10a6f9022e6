"""Run by test_sqlite_fracture_marker.py in a child process on a fresh SQLite database (the demo).

Migrates twice, then writes to each of the section's tables through the ORM, ``bulk_create``,
``update()`` and raw SQL and prints, as JSON, which writes moved the marker, which tables lack a
trigger, and what the dashboard's section says before and after a fracture is recorded.
"""

import datetime as dt
import json

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from registry.fractures.models import FractureEvent  # noqa: E402
from reports import fracture_marker, fracture_outcomes  # noqa: E402
from reports.loaders import CohortFilter  # noqa: E402
from tests.factories import PatientFactory, ProcedureFactory, SiteFactory, UserFactory  # noqa: E402

call_command("migrate", verbosity=0)
call_command("migrate", verbosity=0)  # a second run (nothing to apply) keeps the triggers too


def triggers_of(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s AND name LIKE %s",
            [table, "%fracture_data%"],
        )
        return cursor.fetchone()[0]


def moved(write) -> bool:
    before = fracture_marker.read()
    write()
    return fracture_marker.read() != before


def section() -> str:
    return fracture_outcomes.dashboard_section(
        cohort=CohortFilter(), as_of=dt.date(2026, 11, 21), suppress=False
    ).adjudication


site = SiteFactory(code="TOL", time_zone="Europe/Madrid")
procedure = ProcedureFactory(patient=PatientFactory(site=site))
before = section()
fracture = FractureEvent(
    patient=procedure.patient, site=site, index_procedure=procedure, diagnosed_on=dt.date(2026, 6, 1),
    confirmed_by="radiograph", symptomatic=True, recorded_by=UserFactory(username="coord"),
)  # fmt: skip
writes = {
    "ORM insert": lambda: fracture.save(),
    "QuerySet.update": lambda: FractureEvent.objects.update(updated_at=timezone.now()),
    "raw UPDATE": lambda: connection.cursor().execute("UPDATE procedures_procedure SET operator = 'Dr Gil'"),
}
result = {name: moved(write) for name, write in writes.items()}
after = section()
result["ORM delete"] = moved(lambda: FractureEvent.objects.all().delete())
result["bulk_create"] = moved(lambda: FractureEvent.objects.bulk_create([fracture]))
result["raw DELETE"] = moved(lambda: connection.cursor().execute("DELETE FROM fractures_fractureevent"))
print(
    json.dumps(
        {
            "vendor": connection.vendor,
            "moved": result,
            "tables_without_triggers": [t for t in fracture_marker.TABLES if triggers_of(t) != 3],
            "section_before": before,
            "section_after": after,
        }
    )
)
