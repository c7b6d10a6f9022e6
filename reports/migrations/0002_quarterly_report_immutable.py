"""Quarterly reports are immutable once built: PostgreSQL refuses any change to their content
and any delete. Only ``notified_at`` (and ``updated_at``) may change. SQLite (development)
relies on the services, which never update a report."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION reports_quarterly_report_immutable() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'quarterly report % is immutable: it cannot be deleted', OLD.id;
    END IF;
    IF (NEW.site_id, NEW.year, NEW.quarter, NEW.version, NEW.period_start, NEW.period_end,
        NEW.built_at, NEW.built_by_id, NEW.html, NEW.pdf, NEW.xlsx, NEW.created_at)
       IS DISTINCT FROM
       (OLD.site_id, OLD.year, OLD.quarter, OLD.version, OLD.period_start, OLD.period_end,
        OLD.built_at, OLD.built_by_id, OLD.html, OLD.pdf, OLD.xlsx, OLD.created_at) THEN
        RAISE EXCEPTION 'quarterly report % is immutable: rebuild it as a new version', OLD.id;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER reports_quarterly_report_immutable
    BEFORE UPDATE OR DELETE ON reports_quarterlyreport
    FOR EACH ROW EXECUTE FUNCTION reports_quarterly_report_immutable();
"""
DROP = """
DROP TRIGGER IF EXISTS reports_quarterly_report_immutable ON reports_quarterlyreport;
DROP FUNCTION IF EXISTS reports_quarterly_report_immutable();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("reports", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
