"""The study id is the pseudonym used outside the site: once assigned, the database refuses to change it."""

from django.db import migrations

POSTGRES_FORWARD = """
CREATE OR REPLACE FUNCTION patients_study_id_immutable() RETURNS trigger AS $$
BEGIN
    IF NEW.study_id IS DISTINCT FROM OLD.study_id THEN
        RAISE EXCEPTION 'study_id is immutable' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER patients_study_id_immutable BEFORE UPDATE OF study_id ON patients_patient
    FOR EACH ROW EXECUTE FUNCTION patients_study_id_immutable();
"""
POSTGRES_BACKWARD = """
DROP TRIGGER IF EXISTS patients_study_id_immutable ON patients_patient;
DROP FUNCTION IF EXISTS patients_study_id_immutable();
"""
SQLITE_FORWARD = """
CREATE TRIGGER patients_study_id_immutable BEFORE UPDATE OF study_id ON patients_patient
WHEN NEW.study_id IS NOT OLD.study_id
BEGIN SELECT RAISE(ABORT, 'study_id is immutable'); END;
"""
SQLITE_BACKWARD = "DROP TRIGGER IF EXISTS patients_study_id_immutable;"


def forward(apps, schema_editor):
    sql = {"postgresql": POSTGRES_FORWARD, "sqlite": SQLITE_FORWARD}.get(schema_editor.connection.vendor)
    if sql:
        schema_editor.execute(sql)


def backward(apps, schema_editor):
    sql = {"postgresql": POSTGRES_BACKWARD, "sqlite": SQLITE_BACKWARD}.get(schema_editor.connection.vendor)
    if sql:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("patients", "0002_initial")]

    operations = [migrations.RunPython(forward, backward)]
