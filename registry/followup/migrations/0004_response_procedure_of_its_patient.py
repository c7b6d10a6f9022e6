"""A survey response's procedure (and event) belong to its patient: the database refuses otherwise.

Checked by the service too (``survey_response_record``); the trigger also stops raw SQL, bulk
writes and an admin edit of the procedure's patient from mixing two patients' data.

PostgreSQL only here (production and the test suite). On SQLite (the demo) a trigger naming another
table breaks every later migration that rebuilds that table, and a rebuilt table silently loses
its own triggers, so there ``registry/followup/integrity.py`` installs the same refusals after
every ``migrate``.
"""

from django.db import migrations

POSTGRES_FORWARD = """
CREATE OR REPLACE FUNCTION followup_response_same_patient() RETURNS trigger AS $$
BEGIN
    IF NEW.procedure_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM procedures_procedure WHERE id = NEW.procedure_id AND patient_id = NEW.patient_id
    ) THEN
        RAISE EXCEPTION 'a survey response''s procedure must belong to its patient'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.event_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM followup_followupevent WHERE id = NEW.event_id AND patient_id = NEW.patient_id
    ) THEN
        RAISE EXCEPTION 'a survey response''s event must belong to its patient'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER followup_response_same_patient BEFORE INSERT OR UPDATE OF patient_id, procedure_id, event_id
    ON followup_surveyresponse FOR EACH ROW EXECUTE FUNCTION followup_response_same_patient();

CREATE OR REPLACE FUNCTION followup_procedure_keeps_its_responses() RETURNS trigger AS $$
BEGIN
    IF NEW.patient_id IS DISTINCT FROM OLD.patient_id AND EXISTS (
        SELECT 1 FROM followup_surveyresponse WHERE procedure_id = NEW.id AND patient_id <> NEW.patient_id
    ) THEN
        RAISE EXCEPTION 'a procedure with survey responses cannot move to another patient'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER followup_procedure_keeps_its_responses BEFORE UPDATE OF patient_id ON procedures_procedure
    FOR EACH ROW EXECUTE FUNCTION followup_procedure_keeps_its_responses();
"""
POSTGRES_BACKWARD = """
DROP TRIGGER IF EXISTS followup_procedure_keeps_its_responses ON procedures_procedure;
DROP FUNCTION IF EXISTS followup_procedure_keeps_its_responses();
DROP TRIGGER IF EXISTS followup_response_same_patient ON followup_surveyresponse;
DROP FUNCTION IF EXISTS followup_response_same_patient();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("followup", "0003_event_cancel_cause"), ("procedures", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
