"""Run by test_sqlite_integrity.py in a child process on a fresh SQLite database (the demo set-up).

Migrates, records a survey response through the service, then tries with raw SQL what the
database must refuse: rewriting any history row, and mixing two patients' answers. Prints what
each attempt did as JSON.
"""

import json

import django

django.setup()

from django.apps import apps  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import DatabaseError, connection, transaction  # noqa: E402

from registry.core import append_only  # noqa: E402
from registry.followup import services  # noqa: E402
from tests.factories import PatientFactory, ProcedureFactory, Role, SiteFactory, UserFactory, member  # noqa: E402

call_command("migrate", verbosity=0)
call_command("migrate", verbosity=0)  # a second run (nothing to apply) keeps the triggers too


def refused(sql: str, params: list) -> str:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    except DatabaseError as exc:
        return str(exc)
    return "accepted"


site = SiteFactory(code="TOL", time_zone="Europe/Madrid")
coordinator = member(UserFactory(username="coord_a"), site, Role.COORDINATOR)
ana, bea = PatientFactory(site=site), PatientFactory(site=site)
ana_procedure, bea_procedure = ProcedureFactory(patient=ana), ProcedureFactory(patient=bea)
response = services.survey_response_record(
    patient=ana,
    procedure=ana_procedure,
    event_code="baseline",
    source="paper",
    answers={"vas": "6"},
    acting_user=coordinator,
)
columns = [f.column for f in response._meta.concrete_fields if f.column != "id"]
copy = ", ".join(columns)
result = {
    "vendor": connection.vendor,
    "history_tables_without_trigger": [
        table
        for table in append_only.protected_tables(apps)
        if connection.cursor()
        .execute(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s AND name LIKE %s",
            [table, "%append_only%"],
        )
        .fetchone()[0]
        != 2
    ],
    "history_delete": refused("DELETE FROM patients_historicalpatient", []),
    # Both tables are rebuilt by later migrations on SQLite (they lost their triggers before).
    "history_update": refused("UPDATE procedures_historicalprocedure SET notes = 'x'", []),
    "site_history_update": refused("UPDATE patients_historicalsite SET name = 'x'", []),
    "move_answer": refused(
        "UPDATE followup_surveyresponse SET procedure_id = %s WHERE id = %s", [bea_procedure.pk, response.pk]
    ),
    "insert_mixed": refused(
        f"INSERT INTO followup_surveyresponse ({copy}) SELECT {copy.replace('procedure_id', '%s')} "  # noqa: S608
        "FROM followup_surveyresponse WHERE id = %s",
        [bea_procedure.pk, response.pk],
    ),
    "move_procedure": refused(
        "UPDATE procedures_procedure SET patient_id = %s WHERE id = %s", [bea.pk, ana_procedure.pk]
    ),
}
print(json.dumps(result))
