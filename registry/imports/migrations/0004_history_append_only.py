"""The import mappings' audit history is append-only like every other (registry/core/append_only.py)."""

from django.db import migrations

from registry.core import append_only

TABLES = ["imports_historicalimportmapping"]


def forwards(apps, schema_editor):
    append_only.protect(schema_editor, TABLES)


def backwards(apps, schema_editor):
    append_only.unprotect(schema_editor, TABLES)


class Migration(migrations.Migration):
    dependencies = [
        ("imports", "0003_import_mapping"),
        ("core", "0003_history_append_only"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
