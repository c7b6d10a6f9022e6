"""Every write to procedures and survey responses marks its partitions stale, in the writer's own
transaction, whatever wrote it (services, imports, ``bulk_create``, ``update()``, raw SQL): the
refresh cannot miss a change that a signal or an ``on_commit`` hook in one write path would.

Statement-level triggers with transition tables: an import of 100,000 rows marks each of its
partitions once, in one INSERT. The upsert (rather than DO NOTHING) locks the marker until the
writer commits, so a refresh claiming markers with SKIP LOCKED leaves it for the next round and
never deletes a marker whose change it cannot yet see. Existing data is marked stale once, so
the first refresh builds every partition. SQLite (development) has no rollups: reports take the
full path there."""

from django.db import migrations

MARK = """
INSERT INTO rollups_stalepartition (site_id, performed_month, marked_at)
SELECT DISTINCT p.site_id, date_trunc('month', p.performed_on)::date, now()
FROM {rows} AS changed JOIN procedures_procedure AS p ON p.id = changed.{procedure}
ORDER BY 1, 2
ON CONFLICT (site_id, performed_month) DO UPDATE SET marked_at = EXCLUDED.marked_at;
"""
MARK_PROCEDURES = """
INSERT INTO rollups_stalepartition (site_id, performed_month, marked_at)
SELECT DISTINCT changed.site_id, date_trunc('month', changed.performed_on)::date, now()
FROM {rows} AS changed
ORDER BY 1, 2
ON CONFLICT (site_id, performed_month) DO UPDATE SET marked_at = EXCLUDED.marked_at;
"""


def _function(name: str, mark: str, procedure: str = "") -> str:
    new = mark.format(rows="rollups_new_rows", procedure=procedure)
    old = mark.format(rows="rollups_old_rows", procedure=procedure)
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN {new} END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN {old} END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""


def _triggers(table: str, function: str) -> str:
    return f"""
CREATE TRIGGER {function}_insert AFTER INSERT ON {table}
    REFERENCING NEW TABLE AS rollups_new_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}();
CREATE TRIGGER {function}_update AFTER UPDATE ON {table}
    REFERENCING OLD TABLE AS rollups_old_rows NEW TABLE AS rollups_new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {function}();
CREATE TRIGGER {function}_delete AFTER DELETE ON {table}
    REFERENCING OLD TABLE AS rollups_old_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}();
"""


TABLES = {
    # table: (function, marking SQL)
    "followup_surveyresponse": ("rollups_mark_responses", _function("rollups_mark_responses", MARK, "procedure_id")),
    "procedures_procedure": ("rollups_mark_procedures", _function("rollups_mark_procedures", MARK_PROCEDURES)),
}
MARK_EVERYTHING = """
INSERT INTO rollups_stalepartition (site_id, performed_month, marked_at)
SELECT DISTINCT site_id, date_trunc('month', performed_on)::date, now() FROM procedures_procedure
ON CONFLICT (site_id, performed_month) DO NOTHING;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, (function, create) in TABLES.items():
        schema_editor.execute(create, params=None)
        schema_editor.execute(_triggers(table, function), params=None)
    schema_editor.execute(MARK_EVERYTHING, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, (function, _) in TABLES.items():
        for event in ("insert", "update", "delete"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {function}_{event} ON {table};", params=None)
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {function}();", params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("rollups", "0001_outcome_and_procedure_rollups"),
        ("procedures", "0003_merge_20261202_0054"),
        ("followup", "0011_history_worklist_note_bounded"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
