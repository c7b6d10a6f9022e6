"""Name search by trigram index on PostgreSQL (SQLite, the demo database, keeps the plain scan).

Django's ``icontains`` on PostgreSQL compares ``UPPER(column::text) LIKE UPPER(%s)``: the indexes
are on exactly that expression so that the planner uses them for every word of a name search.
"""

from django.db import migrations

INDEXES = (
    ("patients_patient_given_trgm", "given_name"),
    ("patients_patient_family_trgm", "family_name"),
)


MRN_INDEX = "patients_patient_mrn"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, column in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON patients_patient USING gin (UPPER({column}::text) gin_trgm_ops)"
        )
    # The search ORs the names with an exact MRN: every arm must be indexable for a bitmap OR.
    schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {MRN_INDEX} ON patients_patient (mrn)")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in (*(name for name, _column in INDEXES), MRN_INDEX):
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("patients", "0003_study_id_immutable")]

    operations = [migrations.RunPython(create, drop)]
