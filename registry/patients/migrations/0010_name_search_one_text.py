"""Name search by one trigram index on PostgreSQL (issue #14; SQLite, the demo database, keeps the
plain scan).

The case list looks for every word of a search in one text per patient, ``given_name || ' ' ||
family_name`` (``patients.selectors.NAME_SEARCH_TEXT``), compared as Django's ``icontains`` does on
PostgreSQL: ``UPPER(text::text) LIKE UPPER(%s)``. The index is on exactly that expression, so one
GIN scan answers all the words of a search. The two per-column indexes of
``0004_name_search_trigram`` (a bitmap AND of bitmap ORs, which the planner priced above walking
the whole list newest first) serve nothing any more.
"""

from django.db import migrations

INDEX = "patient_name_search_trgm"
PER_COLUMN = (
    ("patients_patient_given_trgm", "given_name"),
    ("patients_patient_family_trgm", "family_name"),
)


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON patients_patient "
        "USING gin ((UPPER((given_name || ' ' || family_name)::text)) gin_trgm_ops)"
    )
    for name, _column in PER_COLUMN:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, column in PER_COLUMN:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON patients_patient USING gin (UPPER({column}::text) gin_trgm_ops)"
        )
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("patients", "0009_merge_20261202_0336")]

    operations = [migrations.RunPython(create, drop)]
