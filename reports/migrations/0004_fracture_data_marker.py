"""The dashboard's new-fracture section is cached under a marker the database moves when a write to
its tables commits (``reports/fracture_marker.py``), instead of counting six whole tables on every
request. PostgreSQL here; SQLite (the demo) gets its triggers after every ``migrate``."""

from django.db import migrations

from reports import fracture_marker


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        fracture_marker.install_postgres(schema_editor)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        fracture_marker.uninstall_postgres(schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0003_monitoring_signal"),
        ("procedures", "0004_case_list_filter_indexes"),
        ("followup", "0014_cancel_causes_without_replanned"),
        ("fractures", "0003_notes_bounded_like_all_free_text"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
